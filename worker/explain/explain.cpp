#include "worker/explain/explain.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/text.h"
#include "common/version.h"
#include "worker/comm/distributed.h"
#include "worker/explain/explain_files.h"
#include "worker/explain/explain_maps.h"
#include "worker/explain/explain_methods.h"
#include "worker/explain/explain_metrics.h"
#include "worker/explain/explain_record.h"
#include "worker/explain/metric_batch.h"
#include "worker/explain/vis.h"
#include "worker/run/data.h"
#include "worker/run/tensor_batch.h"
#include "worker/run/trained_run.h"

namespace scouter {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Rank 0 receives every rank's vector, concatenated in rank order; the others get {}.
template <class T>
std::vector<T> gather_to_root(Distributed& dist, const std::vector<T>& local,
                              const std::string& what) {
  Communicator* comm = dist.comm();
  if (!comm || comm->size() == 1) return local;
  int64_t bytes = static_cast<int64_t>(local.size() * sizeof(T));
  std::vector<int64_t> sizes(static_cast<size_t>(comm->size()));
  comm->gather(&bytes, sizeof(bytes), sizes.data(), 0, what + " (sizes)");
  constexpr int kTag = 71;
  if (comm->rank() != 0) {
    comm->send(local.data(), bytes, 0, kTag, what);
    return {};
  }
  std::vector<T> all(local);
  for (int r = 1; r < comm->size(); ++r) {
    std::vector<T> part(static_cast<size_t>(sizes[static_cast<size_t>(r)]) / sizeof(T));
    comm->recv(part.data(), sizes[static_cast<size_t>(r)], r, kTag, what);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

template <class T>
void append(std::vector<T>& out, const torch::Tensor& t) {
  auto c = t.contiguous().cpu();
  out.insert(out.end(), c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

struct Gathered {
  std::vector<ExplainRecord> records;      // n, in split order
  std::vector<std::vector<float>> maps;    // per method: n x T x h x w
  std::vector<std::vector<uint8_t>> pics;  // per method: p x T x H x W
};

// Measures the rows of the metric table that are measured with the maps (with_maps), or the
// others, into the records' values of method `method`.
void measure_metrics(const std::vector<MetricSpec>& table, bool with_maps, const MapBatch& maps,
                     const ModelBatch& images, size_t method, std::vector<ExplainRecord>& records) {
  for (size_t k = 0; k < table.size(); ++k) {
    const MetricSpec& spec = table[k];
    if (spec.with_maps != with_maps) continue;
    std::vector<double> values = spec.of_maps ? measure(spec, maps) : measure(spec, images);
    for (size_t b = 0; b < records.size(); ++b) records[b].methods[method][k] = values[b];
  }
}

// metrics.json's "settings": everything the numbers depend on besides the run's weights, so
// `scouter report` pools only runs explained alike (launcher/report.cpp).
nlohmann::json explain_settings(const Config& cfg, const ExplainOptions& options, int64_t n,
                                int64_t H, int64_t W) {
  return {{"images", options.all ? nlohmann::json("all") : nlohmann::json(options.images)},
          {"images_explained", n},
          {"num_classes", cfg.num_classes},
          {"img_size", H},
          {"dataset_dir", cfg.dataset_dir},
          {"map_postprocessing", kMapPostprocessing},
          {"grad_min_level", cfg.use_slot ? nlohmann::json() : nlohmann::json(cfg.grad_min_level)},
          {"metrics", options.metrics},
          {"explain_step", cfg.explain_step},
          {"step_pixels", cfg.explain_step > 0 ? cfg.explain_step : W},
          {"infidelity_sigma", cfg.infidelity_sigma},
          {"infidelity_samples", cfg.infidelity_samples},
          {"sensitivity_radius", cfg.sensitivity_radius},
          {"sensitivity_samples", cfg.sensitivity_samples},
          {"seed", cfg.seed}};
}

}  // namespace

void run_explain(const std::string& run_dir, const ExplainOptions& options, const Config& request,
                 const Origins& origins) {
  // Every rank sees the whole split and takes its part of the images explained, below.
  LoadedRun loaded(run_dir, request, origins, {"explain"});
  const TrainedRun& run = loaded.run;
  const Config& cfg = run.cfg;
  Distributed& dist = loaded.dist;
  const bool rank0 = dist.rank0();
  const torch::Device device = loaded.device;
  ShardSet& val = *loaded.shards;
  BatchLoader& val_loader = *loaded.loader;
  const ShardMeta& meta = val.meta();
  ScouterModel& model = loaded.model;

  std::vector<int64_t> shown = parse_classes(options.classes, meta.class_names, cfg.num_classes);
  std::vector<int64_t> pool = samples_of_first_classes(val, cfg.num_classes);
  const int64_t n = options.all
                        ? static_cast<int64_t>(pool.size())
                        : std::min<int64_t>(options.images, static_cast<int64_t>(pool.size()));
  if (n == 0)
    throw UserError(str_format("the validation set of '{}' has no images of the first {} classes",
                               cfg.dataset_dir, cfg.num_classes),
                    "check dataset_dir and num_classes");
  const int64_t n_pictures = std::min<int64_t>(options.pictures, n);
  const int64_t begin = n * dist.rank() / dist.world(), end = n * (dist.rank() + 1) / dist.world();
  const std::string kind = explain_kind(cfg);

  std::vector<ExplainMethod> methods = explain_methods(model, cfg);
  const double min_level = map_min_level(cfg);
  const int64_t M = static_cast<int64_t>(methods.size());
  const std::vector<MetricSpec>& table = explain_metric_table();
  if (rank0)
    log::info(
        "explain {} ({}, epoch {}): {} images over {} rank(s), methods: {}{}", run_dir, kind,
        run.info.state.epoch, n, dist.world(),
        [&] {
          std::vector<std::string> names;
          for (auto& m : methods) names.push_back(m.name());
          return join(names, ", ");
        }(),
        options.metrics ? "" : " (maps only: --metrics false)");

  ProbFn prob = [&](const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    return torch::softmax(model->forward(x).logits, 1);
  };

  Gathered local;
  local.maps.resize(static_cast<size_t>(M));
  local.pics.resize(static_cast<size_t>(M));
  double maps_s = 0, metrics_s = 0;
  Progress progress("explain", end - begin, "img", rank0);
  const int64_t bs = cfg.effective_eval_batch_size();
  int64_t H = 0, W = 0, h = 0, w = 0;
  {  // Sizes from one image, so a rank without images (n < ranks) knows them too.
    TensorBatch one = to_tensors(val_loader.make_batch({pool[0]}, 0, false));
    auto x = one.images.to(device);
    H = x.size(2), W = x.size(3);
    auto shown1 = methods[0].run(x, one.labels.to(device), shown, false).shown;
    h = shown1.size(2), w = shown1.size(3);
  }
  dist.agree("explain", [&] {
    for (int64_t s = begin; s < end; s += bs) {
      std::vector<int64_t> idx(pool.begin() + s, pool.begin() + std::min(end, s + bs));
      const int64_t B = static_cast<int64_t>(idx.size());
      TensorBatch tb = to_tensors(val_loader.make_batch(idx, 0, false));
      auto x = tb.images.to(device);
      auto y = tb.labels.to(device);
      const int64_t with_pictures = std::max<int64_t>(0, std::min<int64_t>(B, n_pictures - s));
      std::vector<ExplainRecord> rec(static_cast<size_t>(B));
      std::vector<Box> boxes(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b) {
        ExplainRecord& r = rec[static_cast<size_t>(b)];
        r.index = idx[static_cast<size_t>(b)];
        r.label = tb.labels[b].item<int64_t>();
        r.methods.assign(static_cast<size_t>(M), MetricValues(table.size(), NAN));
        std::vector<float> box = val.box(r.index);
        if (box.size() == 4) boxes[static_cast<size_t>(b)] = input_box(box.data(), meta, H, W);
        r.box = boxes[static_cast<size_t>(b)];
      }
      for (int64_t m = 0; m < M; ++m) {
        auto t0 = Clock::now();
        ExplainMethod& method = methods[static_cast<size_t>(m)];
        MethodBatch mb = method.run(x, y, shown, false);
        append<float>(local.maps[static_cast<size_t>(m)], mb.shown.to(torch::kFloat));
        // One image at a time: T maps at input size for a whole batch can be gigabytes.
        for (int64_t b = 0; b < with_pictures; ++b)
          append<uint8_t>(local.pics[static_cast<size_t>(m)],
                          render_maps_u8(explanation_maps(mb.shown[b], H, W, min_level)));
        auto preds = mb.logits.argmax(1).cpu();
        for (int64_t b = 0; b < B; ++b) rec[static_cast<size_t>(b)].pred = preds[b].item<int64_t>();
        auto sal = mb.saliency.detach();
        SaliencyFn explain = [&](const torch::Tensor& xi, const torch::Tensor& ti) {
          return method.saliency(xi, ti);
        };
        const MapBatch maps{sal, boxes};
        const ModelBatch images{x, y, sal, idx, boxes, prob, explain, cfg};
        measure_metrics(table, true, maps, images, static_cast<size_t>(m), rec);
        maps_s += seconds_since(t0);
        t0 = Clock::now();
        if (options.metrics)
          measure_metrics(table, false, maps, images, static_cast<size_t>(m), rec);
        metrics_s += seconds_since(t0);
      }
      local.records.insert(local.records.end(), rec.begin(), rec.end());
      progress.advance(B);
    }
  });
  progress.finish();
  if (rank0) {
    const double images = static_cast<double>(end - begin);
    // Without metrics there is no metrics rate to report (it would be images / ~0 s).
    log::info("explain: maps {:.1f} img/s{} per rank (rank 0: {} images, {} method(s))",
              images / std::max(maps_s, 1e-9),
              options.metrics
                  ? str_format(", metrics {:.2f} img/s", images / std::max(metrics_s, 1e-9))
                  : std::string(),
              end - begin, M);
  }

  // Everything to rank 0, in split order (parts are contiguous and in rank order).
  Gathered all;
  all.records =
      unpack_records(gather_to_root(dist, pack_records(local.records, methods.size(), table.size()),
                                    "explain records"),
                     methods.size(), table.size());
  for (int64_t m = 0; m < M; ++m) {
    all.maps.push_back(gather_to_root(dist, local.maps[static_cast<size_t>(m)], "explain maps"));
    all.pics.push_back(
        gather_to_root(dist, local.pics[static_cast<size_t>(m)], "explain pictures"));
  }
  dist.agree("explain output", [&] {
    if (!rank0) return;
    ExplainResults res;
    res.run_dir = run_dir;
    res.kind = kind;
    for (auto& m : methods) res.methods.push_back(m.name());
    res.shown = shown;
    res.class_names = class_display_names(loaded.dataset);
    res.n = n, res.n_pictures = n_pictures, res.H = H, res.W = W, res.h = h, res.w = w;
    res.records = std::move(all.records);
    res.maps = std::move(all.maps);
    res.pictures = std::move(all.pics);
    res.info = {{"dataset", cfg.dataset},
                {"checkpoint", run.ckpt},
                {"epoch", run.info.state.epoch},
                {"created_by", str_format("scouter {} ({})", SCOUTER_VERSION, SCOUTER_GIT_VERSION)},
                {"metrics_computed", options.metrics},
                {"settings", explain_settings(cfg, options, n, H, W)},
                {"seconds", {{"maps_rank0", maps_s}, {"metrics_rank0", metrics_s}}}};
    res.info["settings"]["ranks"] = dist.world();
    write_explain_files(res, [&](int64_t index, int& ih, int& iw) {
      return display_rgb(val, index, cfg.img_size, ih, iw);
    });
  });
  dist.barrier("explain done");
}

}  // namespace scouter
