#include "worker/explain/explain_files.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/log.h"
#include "datasets/image_ops.h"
#include "worker/explain/explain_pictures.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

}  // namespace

const std::vector<std::string>& explain_metric_names() {
  static const std::vector<std::string> names = {"area",         "precision",  "insertion_auc",
                                                 "deletion_auc", "infidelity", "sensitivity"};
  return names;
}

nlohmann::json write_explain_files(
    const ExplainResults& res,
    const std::function<std::vector<uint8_t>(int64_t index, int& h, int& w)>& image_rgb) {
  const std::string& run_dir = res.run_dir;
  const std::string& kind = res.kind;
  const std::vector<int64_t>& shown = res.shown;
  const std::vector<std::string>& kMetricNames = explain_metric_names();
  const int64_t n = res.n, n_pictures = res.n_pictures, H = res.H, W = res.W, h = res.h, w = res.w;
  const int64_t M = static_cast<int64_t>(res.methods.size()), per = explain_record_size(M);
  const int64_t kHead = kRecordHead;
  if (static_cast<int64_t>(res.records.size()) != n * per)
    throw Error(
        str_format("explain: gathered {} records, expected {}", res.records.size() / per, n));
  const int64_t T = static_cast<int64_t>(shown.size());
  std::string final_dir = run_dir + "/explain";
  std::string tmp = str_format("{}/explain.tmp.{}", run_dir, ::getpid());
  remove_tree(tmp);
  ensure_dir(tmp + "/pictures");
  ensure_dir(tmp + "/grids");

  // images.jsonl and metrics.json
  std::string lines;
  std::vector<std::vector<double>> sums(static_cast<size_t>(M), std::vector<double>(6, 0));
  std::vector<std::vector<int64_t>> counts_m(static_cast<size_t>(M), std::vector<int64_t>(6, 0));
  for (int64_t i = 0; i < n; ++i) {
    const double* r = &res.records[static_cast<size_t>(i * per)];
    nlohmann::json j = {{"index", static_cast<int64_t>(r[0])},
                        {"label", static_cast<int64_t>(r[1])},
                        {"pred", static_cast<int64_t>(r[2])}};
    j["box"] = std::isfinite(r[3]) ? nlohmann::json({r[3], r[4], r[5], r[6]}) : nlohmann::json();
    for (int64_t m = 0; m < M; ++m) {
      nlohmann::json mj;
      for (int k = 0; k < 6; ++k) {
        double v = r[kHead + m * 6 + k];
        mj[kMetricNames[static_cast<size_t>(k)]] = number_or_null(v);
        if (std::isfinite(v)) sums[m][k] += v, counts_m[m][k] += 1;
      }
      j[res.methods[static_cast<size_t>(m)]] = mj;
    }
    lines += j.dump() + "\n";
  }
  write_text_file_atomic(tmp + "/images.jsonl", lines);
  nlohmann::json mj;
  for (int64_t m = 0; m < M; ++m) {
    nlohmann::json one;
    for (int k = 0; k < 6; ++k)
      one[kMetricNames[static_cast<size_t>(k)]] =
          counts_m[m][k] ? nlohmann::json(sums[m][k] / counts_m[m][k]) : nlohmann::json();
    one["precision_images"] = counts_m[m][1];
    mj[res.methods[static_cast<size_t>(m)]] = one;
  }
  nlohmann::json metrics = res.info;
  metrics["run"] = run_dir;
  metrics["kind"] = kind;
  metrics["images"] = n;
  metrics["classes_shown"] = shown;
  metrics["methods"] = mj;
  write_text_file_atomic(tmp + "/metrics.json", metrics.dump(2) + "\n");

  // maps.h5
  {
    std::vector<int64_t> indices(static_cast<size_t>(n)), labels(static_cast<size_t>(n)),
        preds(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      indices[static_cast<size_t>(i)] =
          static_cast<int64_t>(res.records[static_cast<size_t>(i * per)]);
      labels[static_cast<size_t>(i)] =
          static_cast<int64_t>(res.records[static_cast<size_t>(i * per + 1)]);
      preds[static_cast<size_t>(i)] =
          static_cast<int64_t>(res.records[static_cast<size_t>(i * per + 2)]);
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
    const double* r = &res.records[static_cast<size_t>(i * per)];
    int64_t index = static_cast<int64_t>(r[0]);
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
      spec.label = static_cast<int64_t>(r[1]);
      spec.pred = static_cast<int64_t>(r[2]);
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
  for (int64_t m = 0; m < M; ++m) {
    const auto& one = mj[res.methods[static_cast<size_t>(m)]];
    log::info(
        "explain {}: area {} precision {} insertion {} deletion {} infidelity {} sensitivity {}",
        res.methods[static_cast<size_t>(m)], one["area"].dump(), one["precision"].dump(),
        one["insertion_auc"].dump(), one["deletion_auc"].dump(), one["infidelity"].dump(),
        one["sensitivity"].dump());
  }
  log::info("explain: {} images -> {}", n, final_dir);
  return mj;
}

}  // namespace scouter
