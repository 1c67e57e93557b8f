#include "worker/explain/explain_files.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/log.h"
#include "common/text.h"
#include "datasets/image_ops.h"
#include "worker/explain/explain_pictures.h"
#include "worker/explain/metric_spec.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

// One line of images.jsonl (layout in explain.h).
nlohmann::json image_line(const ExplainRecord& r, const std::vector<std::string>& methods,
                          const std::vector<MetricSpec>& table) {
  nlohmann::json j = {{"index", r.index}, {"label", r.label}, {"pred", r.pred}};
  j["box"] =
      r.box.valid() ? nlohmann::json({r.box.x, r.box.y, r.box.w, r.box.h}) : nlohmann::json();
  for (size_t m = 0; m < methods.size(); ++m) {
    nlohmann::json mj;
    for (size_t k = 0; k < table.size(); ++k) mj[table[k].name] = number_or_null(r.methods[m][k]);
    j[methods[m]] = mj;
  }
  return j;
}

// metrics.json's "methods": per method each metric reduced over the images (and the counts the
// table asks for).
nlohmann::json method_summaries(const std::vector<ExplainRecord>& records,
                                const std::vector<std::string>& methods,
                                const std::vector<MetricSpec>& table) {
  nlohmann::json out;
  for (size_t m = 0; m < methods.size(); ++m) {
    nlohmann::json one;
    for (size_t k = 0; k < table.size(); ++k) {
      std::vector<double> values;
      for (const auto& r : records) values.push_back(r.methods[m][k]);
      MetricSummary s = reduce_metric(table[k], values);
      one[table[k].name] = number_or_null(s.value);
      if (!table[k].count_key.empty()) one[table[k].count_key] = s.count;
    }
    out[methods[m]] = one;
  }
  return out;
}

// "explain cam: area 0.21 precision 0.35 ...": the numbers of metrics.json, in table order.
void log_summaries(const nlohmann::json& summaries, const std::vector<std::string>& methods,
                   const std::vector<MetricSpec>& table) {
  for (const auto& method : methods) {
    std::vector<std::string> parts;
    for (const auto& spec : table)
      parts.push_back(spec.name + " " + summaries[method][spec.name].dump());
    log::info("explain {}: {}", method, join(parts, " "));
  }
}

}  // namespace

nlohmann::json write_explain_files(
    const ExplainResults& res,
    const std::function<std::vector<uint8_t>(int64_t index, int& h, int& w)>& image_rgb) {
  const std::string& run_dir = res.run_dir;
  const std::string& kind = res.kind;
  const std::vector<int64_t>& shown = res.shown;
  const std::vector<MetricSpec>& table = explain_metric_table();
  const int64_t n = res.n, n_pictures = res.n_pictures, H = res.H, W = res.W, h = res.h, w = res.w;
  const int64_t M = static_cast<int64_t>(res.methods.size());
  if (static_cast<int64_t>(res.records.size()) != n)
    throw Error(str_format("explain: gathered {} records, expected {}", res.records.size(), n));
  for (const auto& r : res.records) {
    SCOUTER_CHECK(r.methods.size() == res.methods.size(), "a record has values for other methods");
    for (const auto& values : r.methods)
      SCOUTER_CHECK(values.size() == table.size(), "a record has values for other metrics");
  }
  const int64_t T = static_cast<int64_t>(shown.size());
  std::string final_dir = run_dir + "/explain";
  std::string tmp = str_format("{}/explain.tmp.{}", run_dir, ::getpid());
  remove_tree(tmp);
  ensure_dir(tmp + "/pictures");
  ensure_dir(tmp + "/grids");

  // images.jsonl and metrics.json
  std::string lines;
  for (const auto& r : res.records) lines += image_line(r, res.methods, table).dump() + "\n";
  write_text_file_atomic(tmp + "/images.jsonl", lines);
  nlohmann::json mj = method_summaries(res.records, res.methods, table);
  nlohmann::json metrics = res.info;
  metrics["run"] = run_dir;
  metrics["kind"] = kind;
  metrics["images"] = n;
  metrics["classes_shown"] = shown;
  metrics["methods"] = mj;
  write_text_file_atomic(tmp + "/metrics.json", metrics.dump(2) + "\n");

  // maps.h5
  {
    std::vector<int64_t> indices, labels, preds;
    for (const auto& r : res.records) {
      indices.push_back(r.index);
      labels.push_back(r.label);
      preds.push_back(r.pred);
    }
    {
      h5::Handle f = h5::create_memory_file();  // written in one piece, every write checked
      hsize_t nn = static_cast<hsize_t>(n);
      h5::write(f.get(), "indices", {nn}, indices.data());
      h5::write(f.get(), "labels", {nn}, labels.data());
      h5::write(f.get(), "preds", {nn}, preds.data());
      h5::write(f.get(), "classes", {static_cast<hsize_t>(T)}, shown.data());
      for (int64_t m = 0; m < M; ++m) {
        const std::string& name = res.methods[static_cast<size_t>(m)];
        h5::write(f.get(), name,
                  {nn, static_cast<hsize_t>(T), static_cast<hsize_t>(h), static_cast<hsize_t>(w)},
                  res.maps[static_cast<size_t>(m)].data());
        if (n_pictures > 0)
          h5::write(f.get(), name + "_upsampled",
                    {static_cast<hsize_t>(n_pictures), static_cast<hsize_t>(T),
                     static_cast<hsize_t>(H), static_cast<hsize_t>(W)},
                    res.pictures[static_cast<size_t>(m)].data());
      }
      h5::write_memory_file(f, tmp + "/maps.h5");
    }
  }

  // Pictures and grids of the first n_pictures images.
  std::string run_name = fs::path(run_dir).filename().string();
  for (int64_t i = 0; i < n_pictures; ++i) {
    const ExplainRecord& r = res.records[static_cast<size_t>(i)];
    const int64_t index = r.index;
    int ih = 0, iw = 0;
    std::vector<uint8_t> rgb = image_rgb(index, ih, iw);
    std::string pic_dir = str_format("{}/pictures/{:05d}", tmp, index);
    ensure_dir(pic_dir);
    write_png(pic_dir + "/image.png", rgb.data(), iw, ih, 3);
    for (int64_t m = 0; m < M; ++m) {
      const std::string& name = res.methods[static_cast<size_t>(m)];
      std::vector<std::vector<uint8_t>> overlays;
      for (int64_t t = 0; t < T; ++t) {
        const uint8_t* map =
            &res.pictures[static_cast<size_t>(m)][static_cast<size_t>((i * T + t) * H * W)];
        overlays.push_back(overlay_jet(rgb.data(), map, ih, iw, 0.4));
        write_png(str_format("{}/{}_class{}.png", pic_dir, name, shown[static_cast<size_t>(t)]),
                  overlays.back().data(), iw, ih, 3);
      }
      GridSpec spec;
      spec.title = str_format("{:05d}  {}  ({}, {})", index, run_name, kind, name);
      spec.classes = shown;
      spec.class_names = res.class_names;
      spec.label = r.label;
      spec.pred = r.pred;
      spec.why_not = kind == "scouter-";
      std::string base = str_format("{}/grids/{:05d}_{}", tmp, index, name);
      write_grid(base + ".png", base + ".svg", rgb, ih, iw, overlays, spec);
    }
  }
  // Swap in the new folder: the old one stays whole until the new one is complete. The
  // explanations of the user's own images (images/, `explain --image`) are not about the
  // validation set: they move into the new folder.
  std::string old = run_dir + "/explain.old";
  remove_tree(old);
  if (fs::is_directory(final_dir + "/images")) fs::rename(final_dir + "/images", tmp + "/images");
  if (fs::exists(final_dir)) fs::rename(final_dir, old);
  fs::rename(tmp, final_dir);
  remove_tree(old);
  log_summaries(mj, res.methods, table);
  log::info("explain: {} images -> {}", n, final_dir);
  return mj;
}

}  // namespace scouter
