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
#include "datasets/image_ops.h"
#include "worker/model/attention_maps.h"
#include "worker/explain/cam.h"
#include "worker/train/checkpoint.h"
#include "worker/train/data.h"
#include "worker/dist/distributed.h"
#include "worker/explain/explain_files.h"
#include "worker/explain/explain_metrics.h"
#include "worker/train/tensor_batch.h"
#include "worker/train/trainer.h"
#include "worker/explain/vis.h"

namespace scouter {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

torch::Tensor pick_class(const torch::Tensor& maps, const torch::Tensor& targets) {
  auto idx = targets.to(maps.device())
                 .view({-1, 1, 1, 1})
                 .expand({maps.size(0), 1, maps.size(2), maps.size(3)});
  return maps.gather(1, idx).squeeze(1);
}

// What one method gives for a batch.
struct MethodBatch {
  torch::Tensor logits;    // B x K
  torch::Tensor shown;     // B x T x h x w raw maps of the shown classes
  torch::Tensor saliency;  // B x H x W map of the target class at input size, 0..1
  torch::Tensor area;      // B float64
  torch::Tensor pictures;  // B x T x H x W uint8, the maps as pictured
};

// One explanation method of the run: SCOUTER's attention, or one CAM flavour of an FC model.
class Method {
 public:
  Method(std::string name, ScouterModel model, const Config& cfg, std::vector<int64_t> shown,
         std::optional<CamMethod> cam)
      : name_(std::move(name)),
        model_(std::move(model)),
        cfg_(cfg),
        shown_(std::move(shown)),
        cam_(cam) {}

  const std::string& name() const { return name_; }

  MethodBatch run(const torch::Tensor& x, const torch::Tensor& targets, bool pictures) {
    MethodBatch r;
    int64_t H = x.size(2), W = x.size(3);
    auto shown = torch::tensor(shown_, torch::kLong).to(x.device());
    if (!cam_) {
      torch::NoGradGuard no_grad;
      ModelOutput out = model_->forward(x);
      auto maps = class_attention_maps(out, model_->num_classes(), model_->slots_per_class());
      r.logits = out.logits;
      r.shown = maps.index_select(1, shown);
      r.saliency = slot_saliency(maps, targets, H, W);
      auto u8 = normalized_maps_u8(maps);  // the published picture scale
      r.area = area_sizes(u8.cpu(), targets.cpu());
      if (pictures) r.pictures = resize_u8(u8.index_select(1, shown).cpu(), H, W);
    } else {
      // One feature pass and one backward per class for the shown and the target classes.
      std::vector<int64_t> needed = shown_;
      auto t = targets.to(torch::kCPU, torch::kInt64).contiguous();
      needed.insert(needed.end(), t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
      std::sort(needed.begin(), needed.end());
      needed.erase(std::unique(needed.begin(), needed.end()), needed.end());
      auto position = [&](const torch::Tensor& classes) {  // class -> column of `needed`
        auto c = classes.to(torch::kCPU, torch::kInt64).contiguous();
        std::vector<int64_t> pos;
        for (int64_t i = 0; i < c.numel(); ++i)
          pos.push_back(std::lower_bound(needed.begin(), needed.end(), c.data_ptr<int64_t>()[i]) -
                        needed.begin());
        return torch::tensor(pos, torch::kInt64).to(x.device());
      };
      CamOutput all = cam_maps(model_, x, *cam_, needed);
      r.logits = all.logits;
      r.shown = all.maps.index_select(1, position(shown));
      auto target_maps = pick_class(all.maps, position(targets));
      r.saliency = published_cam_normalize(upsample_maps(target_maps, H, W), cfg_.grad_min_level);
      auto feat = published_cam_normalize(target_maps, cfg_.grad_min_level);
      auto to_u8 = [](const torch::Tensor& m) {  // np.uint8(255 * m)
        return (m * 255).floor().clamp(0, 255).to(torch::kUInt8).cpu();
      };
      auto feat_u8 = to_u8(feat).unsqueeze(1);
      r.area = area_sizes(feat_u8, torch::zeros({feat_u8.size(0)}, torch::kInt64));
      if (pictures)
        r.pictures =
            to_u8(published_cam_normalize(upsample_maps(r.shown, H, W), cfg_.grad_min_level));
    }
    return r;
  }

  // The target-class map of perturbed images, exactly as run() computes `saliency`.
  torch::Tensor saliency(const torch::Tensor& x, const torch::Tensor& targets) {
    int64_t H = x.size(2), W = x.size(3);
    if (!cam_) {
      torch::NoGradGuard no_grad;
      ModelOutput out = model_->forward(x);
      return slot_saliency(
          class_attention_maps(out, model_->num_classes(), model_->slots_per_class()), targets, H,
          W);
    }
    return published_cam_normalize(upsample_maps(cam_target_maps(model_, x, targets, *cam_), H, W),
                                   cfg_.grad_min_level);
  }

 private:
  static torch::Tensor slot_saliency(const torch::Tensor& maps, const torch::Tensor& targets,
                                     int64_t H, int64_t W) {
    return upsample_maps(pick_class(normalized_maps(maps), targets), H, W);
  }
  // The published picture: the uint8 map resized with PIL's bilinear filter.
  static torch::Tensor resize_u8(const torch::Tensor& u8, int64_t H, int64_t W) {
    auto src = u8.contiguous();
    auto out = torch::empty({src.size(0), src.size(1), H, W}, torch::kUInt8);
    int64_t n = src.size(0) * src.size(1);
    for (int64_t i = 0; i < n; ++i)
      resize_bilinear_u8(src.data_ptr<uint8_t>() + i * src.size(2) * src.size(3), 1,
                         static_cast<int>(src.size(2)), static_cast<int>(src.size(3)),
                         out.data_ptr<uint8_t>() + i * H * W, static_cast<int>(H),
                         static_cast<int>(W));
    return out;
  }

  std::string name_;
  ScouterModel model_;
  const Config& cfg_;
  std::vector<int64_t> shown_;
  std::optional<CamMethod> cam_;
};

std::vector<int64_t> parse_classes(const std::vector<std::string>& items,
                                   const std::vector<std::string>& names, int64_t num_classes) {
  std::vector<int64_t> out;
  if (items.empty()) {
    for (int64_t c = 0; c < num_classes; ++c) out.push_back(c);
    return out;
  }
  for (const auto& it : items) {
    auto v = parse_int(it);
    int64_t c = -1;
    if (v) {
      c = *v;
    } else {
      for (size_t k = 0; k < names.size() && k < static_cast<size_t>(num_classes); ++k)
        if (names[k] == it) c = static_cast<int64_t>(k);
    }
    if (c < 0 || c >= num_classes)
      throw UserError(str_format("command line: --classes: '{}' is not a class of this run", it),
                      str_format("valid: 0..{} or a class name ({}...)", num_classes - 1,
                                 names.empty() ? std::string() : names[0]));
    out.push_back(c);
  }
  return out;
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
  std::vector<double> records;             // n x explain_record_size(methods)
  std::vector<std::vector<float>> maps;    // per method: n x T x h x w
  std::vector<std::vector<uint8_t>> pics;  // per method: p x T x H x W
};

}  // namespace

void run_explain(const std::string& run_dir, const ExplainOptions& options, const Config& request,
                 const Origins& origins) {
  std::string ckpt = latest_checkpoint(run_dir);
  if (ckpt.empty())
    throw UserError(str_format("no checkpoint in '{}/checkpoints'", run_dir),
                    "train the run first; explain takes a run folder (scouter explain runs/x/fc)");
  CheckpointInfo info = read_checkpoint_info(ckpt);
  Config cfg = trained_run_config(ckpt, info, run_dir, request, origins, "explain");
  validate(cfg, origins);

  Distributed dist(cfg);
  const bool rank0 = dist.rank0();
  configure_threads(cfg.threads);
  torch::Device device = pick_device(cfg, dist.topology());
  RunData data = open_run_data(cfg, false, dist.rank(), dist.world());
  ScouterModel model(cfg, data.in_chans);
  load_checkpoint(ckpt, *model, nullptr, cfg, false);
  model->to(device);
  model->eval();

  const ShardMeta& meta = data.val->meta();
  std::vector<int64_t> shown = parse_classes(options.classes, meta.class_names, cfg.num_classes);
  std::vector<int64_t> pool = samples_of_first_classes(*data.val, cfg.num_classes);
  const int64_t n = options.all
                        ? static_cast<int64_t>(pool.size())
                        : std::min<int64_t>(options.images, static_cast<int64_t>(pool.size()));
  if (n == 0)
    throw UserError(str_format("the validation set of '{}' has no images of the first {} classes",
                               cfg.dataset_dir, cfg.num_classes),
                    "check dataset_dir and num_classes");
  const int64_t n_pictures = std::min<int64_t>(options.pictures, n);
  const int64_t begin = n * dist.rank() / dist.world(), end = n * (dist.rank() + 1) / dist.world();
  const std::string kind = !cfg.use_slot ? "fc" : (cfg.loss_status > 0 ? "scouter+" : "scouter-");

  std::vector<Method> methods;
  if (cfg.use_slot) {
    methods.emplace_back("slot", model, cfg, shown, std::nullopt);
  } else {
    for (CamMethod m : all_cam_methods())
      methods.emplace_back(cam_method_name(m), model, cfg, shown, m);
  }
  const int64_t M = static_cast<int64_t>(methods.size()), per = explain_record_size(M);
  if (rank0)
    log::info(
        "explain {} ({}, epoch {}): {} images over {} rank(s), methods: {}{}", run_dir, kind,
        info.state.epoch, n, dist.world(),
        [&] {
          std::vector<std::string> names;
          for (auto& m : methods) names.push_back(m.name());
          return join(names, ", ");
        }(),
        options.metrics ? "" : " (maps only: --metrics false)");

  PerturbOptions perturb;
  perturb.batch_size = cfg.effective_eval_batch_size();
  CausalOptions causal;
  causal.step_pixels = cfg.explain_step;
  causal.batch_size = cfg.effective_eval_batch_size();
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
    TensorBatch one = to_tensors(data.val_loader->make_batch({pool[0]}, 0, false));
    auto x = one.images.to(device);
    H = x.size(2), W = x.size(3);
    auto shown1 = methods[0].run(x, one.labels.to(device), false).shown;
    h = shown1.size(2), w = shown1.size(3);
  }
  dist.agree("explain", [&] {
    for (int64_t s = begin; s < end; s += bs) {
      std::vector<int64_t> idx(pool.begin() + s, pool.begin() + std::min(end, s + bs));
      const int64_t B = static_cast<int64_t>(idx.size());
      TensorBatch tb = to_tensors(data.val_loader->make_batch(idx, 0, false));
      auto x = tb.images.to(device);
      auto y = tb.labels.to(device);
      const int64_t with_pictures = std::max<int64_t>(0, std::min<int64_t>(B, n_pictures - s));
      std::vector<double> rec(static_cast<size_t>(B * per), NAN);
      std::vector<Box> boxes(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b) {
        double* r = &rec[static_cast<size_t>(b * per)];
        r[0] = static_cast<double>(idx[static_cast<size_t>(b)]);
        r[1] = static_cast<double>(tb.labels[b].item<int64_t>());
        std::vector<float> box = data.val->box(idx[static_cast<size_t>(b)]);
        if (box.size() == 4 && box[2] > 0 && box[3] > 0) {
          double sx = static_cast<double>(W) / meta.width,
                 sy = static_cast<double>(H) / meta.height;
          boxes[static_cast<size_t>(b)] = Box{box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy};
          r[3] = boxes[static_cast<size_t>(b)].x, r[4] = boxes[static_cast<size_t>(b)].y;
          r[5] = boxes[static_cast<size_t>(b)].w, r[6] = boxes[static_cast<size_t>(b)].h;
        }
      }
      for (int64_t m = 0; m < M; ++m) {
        auto t0 = Clock::now();
        MethodBatch mb = methods[static_cast<size_t>(m)].run(x, y, with_pictures > 0);
        append<float>(local.maps[static_cast<size_t>(m)], mb.shown.to(torch::kFloat));
        if (with_pictures > 0)
          append<uint8_t>(local.pics[static_cast<size_t>(m)],
                          mb.pictures.narrow(0, 0, with_pictures));
        auto preds = mb.logits.argmax(1).cpu();
        auto area = mb.area.cpu();
        maps_s += seconds_since(t0);
        t0 = Clock::now();
        std::vector<CausalCurve> ins, del;
        std::vector<double> infd, sens;
        auto sal = mb.saliency.detach();
        if (options.metrics) {
          ins = causal_curves(prob, x, sal, y, CausalMode::kInsertion, causal);
          del = causal_curves(prob, x, sal, y, CausalMode::kDeletion, causal);
          std::vector<torch::Generator> gens;
          for (int64_t i : idx) gens.push_back(image_generator(static_cast<uint64_t>(cfg.seed), i));
          perturb.samples = cfg.infidelity_samples;
          perturb.sigma = cfg.infidelity_sigma;
          infd = infidelity(prob, x, sal, y, gens, perturb);
          gens.clear();
          for (int64_t i : idx)
            gens.push_back(image_generator(static_cast<uint64_t>(cfg.seed) + 1, i));
          perturb.samples = cfg.sensitivity_samples;
          perturb.radius = cfg.sensitivity_radius;
          Method& method = methods[static_cast<size_t>(m)];
          SaliencyFn explain = [&](const torch::Tensor& xi, const torch::Tensor& ti) {
            return method.saliency(xi, ti);
          };
          sens = sensitivity_max(explain, x, sal, y, gens, perturb);
        }
        auto sal_cpu = sal.cpu();
        for (int64_t b = 0; b < B; ++b) {
          double* r = &rec[static_cast<size_t>(b * per)];
          r[2] = static_cast<double>(preds[b].item<int64_t>());
          double* v = r + kRecordHead + m * static_cast<int64_t>(explain_metric_names().size());
          v[0] = area[b].item<double>();
          if (!options.metrics) continue;
          const Box& box = boxes[static_cast<size_t>(b)];
          v[1] = box.valid() ? box_precision(sal_cpu[b], box) : NAN;
          v[2] = ins[static_cast<size_t>(b)].auc;
          v[3] = del[static_cast<size_t>(b)].auc;
          v[4] = infd[static_cast<size_t>(b)];
          v[5] = sens[static_cast<size_t>(b)];
        }
        metrics_s += seconds_since(t0);
      }
      local.records.insert(local.records.end(), rec.begin(), rec.end());
      progress.advance(B);
    }
  });
  progress.finish();
  double counts[3] = {maps_s, metrics_s, static_cast<double>(end - begin)};
  if (rank0)
    log::info(
        "explain: maps {:.1f} img/s, metrics {:.2f} img/s per rank (rank 0: {} images, {} "
        "method(s))",
        counts[2] / std::max(maps_s, 1e-9), counts[2] / std::max(metrics_s, 1e-9), end - begin, M);

  // Everything to rank 0, in split order (parts are contiguous and in rank order).
  Gathered all;
  all.records = gather_to_root(dist, local.records, "explain records");
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
    res.class_names = meta.class_names;
    res.n = n, res.n_pictures = n_pictures, res.H = H, res.W = W, res.h = h, res.w = w;
    res.records = std::move(all.records);
    res.maps = std::move(all.maps);
    res.pictures = std::move(all.pics);
    res.info = {
        {"dataset", cfg.dataset},
        {"checkpoint", ckpt},
        {"epoch", info.state.epoch},
        {"created_by", str_format("scouter {} ({})", SCOUTER_VERSION, SCOUTER_GIT_VERSION)},
        {"metrics_computed", options.metrics},
        {"settings",
         {{"grad_min_level", cfg.grad_min_level},
          {"step_pixels", cfg.explain_step > 0 ? cfg.explain_step : W},
          {"infidelity_sigma", cfg.infidelity_sigma},
          {"infidelity_samples", cfg.infidelity_samples},
          {"sensitivity_radius", cfg.sensitivity_radius},
          {"sensitivity_samples", cfg.sensitivity_samples},
          {"seed", cfg.seed},
          {"ranks", dist.world()}}},
        {"seconds", {{"maps_rank0", maps_s}, {"metrics_rank0", metrics_s}}}};
    write_explain_files(res, [&](int64_t index, int& ih, int& iw) {
      return display_rgb(*data.val, index, cfg.img_size, ih, iw);
    });
  });
  dist.barrier("explain done");
}

}  // namespace scouter
