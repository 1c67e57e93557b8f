#include "worker/explain/explain_image.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/log.h"
#include "common/text.h"
#include "common/version.h"
#include "datasets/batch_loader.h"
#include "datasets/image_ops.h"
#include "worker/explain/explain_maps.h"
#include "worker/explain/explain_methods.h"
#include "worker/explain/metric_batch.h"
#include "worker/explain/vis.h"
#include "worker/run/trained_run.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

// Folder names from the files' names (documented in explain_image.h).
std::vector<std::string> folder_names(const std::vector<std::string>& images) {
  std::vector<std::string> names;
  std::map<std::string, int> seen;
  for (const auto& path : images) {
    std::string name = fs::path(path).filename().string();
    for (char& c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
    if (name.empty() || name == "." || name == "..") name = "image";
    int n = ++seen[name];
    names.push_back(n == 1 ? name : str_format("{}-{}", name, n));
  }
  return names;
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

template <class T>
nlohmann::json box_json(const T* b) {
  return nlohmann::json::array({b[0], b[1], b[2], b[3]});
}

// The model's input for a stored image: 1 x C x H x W, normalised as a validation image.
torch::Tensor model_input(const UserImage& img, const ShardMeta& meta, int64_t H, int64_t W) {
  auto x = torch::empty({1, img.channels, H, W}, torch::kFloat32);
  eval_transform(img.pixels.data(), meta, H, W, x.data_ptr<float>());
  return x;
}

// Per map (T x H x W) the values of the table's metrics of a map alone, measured against `box`
// (NaN for the others).
std::vector<MetricValues> map_metrics(const torch::Tensor& maps, const Box& box) {
  const auto& table = explain_metric_table();
  const size_t T = static_cast<size_t>(maps.size(0));
  std::vector<MetricValues> values(T, MetricValues(table.size(), NAN));
  const std::vector<Box> boxes(T, box);
  for (size_t k = 0; k < table.size(); ++k) {
    if (!table[k].of_maps) continue;
    std::vector<double> v = measure(table[k], MapBatch{maps, boxes});
    for (size_t t = 0; t < T; ++t) values[t][k] = v[t];
  }
  return values;
}

// result.json's entries of those metrics (null: no value).
void add_map_metrics(nlohmann::json& out, const MetricValues& values) {
  const auto& table = explain_metric_table();
  for (size_t k = 0; k < table.size(); ++k)
    if (table[k].of_maps) out[table[k].name] = number_or_null(values[k]);
}

// Replaces `folder` by the complete folder `tmp` (the old one stays whole until then).
void swap_in(const std::string& tmp, const std::string& folder) {
  std::string old = folder + ".old." + std::to_string(::getpid());
  if (fs::exists(folder)) fs::rename(folder, old);
  fs::rename(tmp, folder);
  remove_tree(old);
}

}  // namespace

double ImageExplanation::Map::value(const std::string& name) const {
  const auto& table = explain_metric_table();
  for (size_t k = 0; k < table.size() && k < values.size(); ++k)
    if (table[k].name == name) return values[k];
  throw Error(str_format("explain --image: no metric '{}' in the table", name));
}

std::vector<ImageExplanation> run_explain_images(const std::string& run_dir,
                                                 const ImageExplainOptions& options,
                                                 const Config& request, const Origins& origins) {
  const size_t n = options.images.size();
  if (n == 0) throw UserError("command line: --image needs an image file", "e.g. --image cat.jpg");
  if (options.boxes.size() > 1 && options.boxes.size() != n)
    throw UserError(
        str_format("command line: --box gives {} boxes for {} image(s)", options.boxes.size(), n),
        "one box for every image, or one per image separated by ':' ('-': none)");
  LoadOptions load;
  load.command = "explain";
  load.read_images = false;  // the form of the samples and the class names: RUN/dataset.json
  LoadedRun loaded(run_dir, request, origins, load);
  const TrainedRun& run = loaded.run;
  const Config& cfg = run.cfg;
  const torch::Device device = loaded.device;
  const ShardMeta& meta = loaded.meta();
  std::vector<int64_t> asked;
  if (!options.classes.empty())
    asked = parse_classes(options.classes, meta.class_names, cfg.num_classes);
  // Every image read (and every box checked) before anything is computed or written.
  std::vector<UserImage> images;
  for (size_t i = 0; i < n; ++i) {
    const SourceBox& box = options.boxes.empty()       ? kNoBox
                           : options.boxes.size() == 1 ? options.boxes[0]
                                                       : options.boxes[i];
    images.push_back(load_user_image(options.images[i], meta, box));
  }
  std::vector<ExplainMethod> methods = explain_methods(loaded.model, cfg);
  const int64_t H = loaded.input_height(), W = loaded.input_width();
  const int64_t top_k = std::min<int64_t>(options.top_k, cfg.num_classes);
  auto name_of = [&](int64_t c) { return class_display_name(loaded.dataset, c); };
  const std::string images_dir = run_dir + "/explain/images";
  ensure_dir(images_dir);
  std::vector<std::string> names = folder_names(options.images);
  log::info("explain {} ({}, epoch {}): {} image(s) of your own at {}x{} px -> {}", run_dir,
            explain_kind(cfg), run.info.state.epoch, n, W, H, images_dir);

  std::vector<ImageExplanation> results;
  for (size_t i = 0; i < n; ++i) {
    const UserImage& img = images[i];
    ImageExplanation r;
    r.image = img.path;
    r.folder = images_dir + "/" + names[i];
    r.json = r.folder + "/result.json";
    auto x = model_input(img, meta, H, W).to(device);
    torch::Tensor probs;
    {
      torch::NoGradGuard no_grad;
      probs = torch::softmax(loaded.model->forward(x).logits, 1)[0].to(torch::kFloat64).cpu();
    }
    auto order = std::get<1>(probs.sort(0, /*descending=*/true));
    for (int64_t k = 0; k < top_k; ++k) {
      int64_t c = order[k].item<int64_t>();
      r.top.push_back({c, name_of(c), probs[c].item<double>()});
    }
    const int64_t pred = r.top[0].cls;
    std::vector<int64_t> shown = asked.empty() ? std::vector<int64_t>{pred} : asked;
    const Box box = input_box(img.box.data(), meta, H, W);

    std::string tmp = str_format("{}/.{}.tmp.{}", images_dir, names[i], ::getpid());
    remove_tree(tmp);
    ensure_dir(tmp);
    int ih = 0, iw = 0;
    std::vector<uint8_t> rgb =
        display_rgb(img.pixels.data(), static_cast<int>(img.channels), static_cast<int>(img.height),
                    static_cast<int>(img.width), cfg.img_size, ih, iw);
    write_png(tmp + "/image.png", rgb.data(), iw, ih, 3);
    h5::Handle maps_file = h5::create_memory_file();
    h5::write(maps_file.get(), "classes", {static_cast<hsize_t>(shown.size())}, shown.data());
    nlohmann::json methods_json = nlohmann::json::object();
    for (auto& method : methods) {
      MethodBatch mb = method.run(x, torch::tensor({pred}, torch::kInt64).to(device), shown, true);
      auto maps = mb.shown_maps[0].to(torch::kFloat32).cpu().contiguous();  // T x H x W
      auto u8 = render_maps_u8(maps);
      h5::write(
          maps_file.get(), method.name(),
          {static_cast<hsize_t>(shown.size()), static_cast<hsize_t>(H), static_cast<hsize_t>(W)},
          maps.data_ptr<float>());
      std::vector<MetricValues> values = map_metrics(maps, box);
      nlohmann::json list = nlohmann::json::array();
      for (size_t t = 0; t < shown.size(); ++t) {
        const auto ti = static_cast<int64_t>(t);
        ImageExplanation::Map m;
        m.method = method.name();
        m.cls = shown[t];
        std::string png = str_format("{}_class{}.png", m.method, m.cls);
        m.picture = r.folder + "/" + png;
        m.values = values[t];
        auto overlay =
            overlay_jet(rgb.data(), u8[ti].contiguous().data_ptr<uint8_t>(), ih, iw, 0.4);
        write_png(tmp + "/" + png, overlay.data(), iw, ih, 3);
        nlohmann::json one = {{"class", m.cls}, {"name", name_of(m.cls)}, {"picture", png}};
        add_map_metrics(one, m.values);
        list.push_back(one);
        r.maps.push_back(std::move(m));
      }
      methods_json[method.name()] = list;
    }
    h5::write_memory_file(maps_file, tmp + "/maps.h5");

    nlohmann::json top = nlohmann::json::array();
    for (const auto& t : r.top)
      top.push_back({{"class", t.cls}, {"name", t.name}, {"probability", t.probability}});
    nlohmann::json box_j;
    if (box.valid()) {
      const double in[4] = {box.x, box.y, box.w, box.h};
      const SourceBox& src = options.boxes.size() == 1 ? options.boxes[0] : options.boxes[i];
      box_j = {{"source", box_json(src.data())},
               {"stored", box_json(img.box.data())},
               {"input", box_json(in)}};
    }
    nlohmann::json result = {
        {"image", img.path},
        {"run", run_dir},
        {"checkpoint", run.ckpt},
        {"epoch", run.info.state.epoch},
        {"kind", explain_kind(cfg)},
        {"created_by", str_format("scouter {} ({})", SCOUTER_VERSION, SCOUTER_GIT_VERSION)},
        {"source_size", {img.source_width, img.source_height}},
        {"stored_size", {img.width, img.height}},
        {"input_size", {W, H}},
        {"prediction", top[0]},
        {"top_k", top},
        {"box", box_j},
        {"classes", shown},
        {"methods", methods_json},
        {"settings",
         {{"img_size", H},
          {"dataset_dir", cfg.dataset_dir},
          {"map_postprocessing", kMapPostprocessing},
          {"grad_min_level", cfg.use_slot ? nlohmann::json() : nlohmann::json(cfg.grad_min_level)},
          {"top_k", top_k}}}};
    write_text_file_atomic(tmp + "/result.json", result.dump(2) + "\n");
    swap_in(tmp, r.folder);
    log::info("explain {}: {} ({:.3f}) -> {}", img.path, r.top[0].name, r.top[0].probability,
              r.folder);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace scouter
