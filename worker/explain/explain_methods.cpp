#include "worker/explain/explain_methods.h"

#include <algorithm>

#include "common/error.h"
#include "common/format.h"
#include "common/text.h"
#include "worker/explain/explain_maps.h"
#include "worker/model/backbone_spec.h"

namespace scouter {
namespace {

torch::Tensor pick_class(const torch::Tensor& maps, const torch::Tensor& targets) {
  auto idx = targets.to(maps.device())
                 .view({-1, 1, 1, 1})
                 .expand({maps.size(0), 1, maps.size(2), maps.size(3)});
  return maps.gather(1, idx).squeeze(1);
}

}  // namespace

ExplainMethod::ExplainMethod(std::string name, ScouterModel model, double min_level,
                             std::optional<CamMethod> cam)
    : name_(std::move(name)), model_(std::move(model)), min_level_(min_level), cam_(cam) {}

MethodBatch ExplainMethod::run(const torch::Tensor& x, const torch::Tensor& targets,
                               const std::vector<int64_t>& shown, bool with_shown_maps) {
  MethodBatch r;
  const int64_t H = x.size(2), W = x.size(3);
  torch::Tensor target_raw;
  if (!cam_) {
    torch::NoGradGuard no_grad;
    ModelOutput out = model_->forward(x);
    auto maps = class_attention_maps(out, model_->num_classes(), model_->slots_per_class());
    r.logits = out.logits;
    r.shown = maps.index_select(1, torch::tensor(shown, torch::kLong).to(x.device()));
    target_raw = pick_class(maps, targets);
  } else {
    // One feature pass and one backward per class for the shown and the target classes.
    std::vector<int64_t> needed = shown;
    auto t = targets.to(torch::kCPU, torch::kInt64).contiguous();
    needed.insert(needed.end(), t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
    std::sort(needed.begin(), needed.end());
    needed.erase(std::unique(needed.begin(), needed.end()), needed.end());
    auto position = [&](const std::vector<int64_t>& classes) {  // class -> column of `needed`
      std::vector<int64_t> pos;
      for (int64_t c : classes)
        pos.push_back(std::lower_bound(needed.begin(), needed.end(), c) - needed.begin());
      return torch::tensor(pos, torch::kInt64).to(x.device());
    };
    CamOutput all = cam_maps(model_, x, *cam_, needed);
    r.logits = all.logits;
    r.shown = all.maps.index_select(1, position(shown));
    target_raw = pick_class(
        all.maps,
        position(std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel())));
  }
  r.saliency = explanation_maps(target_raw, H, W, min_level_);
  if (with_shown_maps) r.shown_maps = explanation_maps(r.shown, H, W, min_level_);
  return r;
}

torch::Tensor ExplainMethod::saliency(const torch::Tensor& x, const torch::Tensor& targets) {
  const int64_t H = x.size(2), W = x.size(3);
  if (!cam_) {
    torch::NoGradGuard no_grad;
    ModelOutput out = model_->forward(x);
    auto maps = class_attention_maps(out, model_->num_classes(), model_->slots_per_class());
    return explanation_maps(pick_class(maps, targets), H, W, min_level_);
  }
  return explanation_maps(cam_target_maps(model_, x, targets, *cam_), H, W, min_level_);
}

std::vector<ExplainMethod> explain_methods(const ScouterModel& model, const Config& cfg) {
  std::vector<ExplainMethod> methods;
  if (cfg.use_slot) {
    methods.emplace_back("slot", model, map_min_level(cfg), std::nullopt);
  } else {
    for (CamMethod m : all_cam_methods())
      methods.emplace_back(cam_method_name(m), model, map_min_level(cfg), m);
  }
  return methods;
}

std::string explain_kind(const Config& cfg) {
  return !cfg.use_slot ? "fc" : (cfg.loss_status > 0 ? "scouter+" : "scouter-");
}

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

Box input_box(const float* stored_box, const ShardMeta& meta, int64_t height, int64_t width) {
  if (!(stored_box[2] > 0 && stored_box[3] > 0)) return {};
  const double sx = static_cast<double>(width) / meta.width,
               sy = static_cast<double>(height) / meta.height;
  return Box{stored_box[0] * sx, stored_box[1] * sy, stored_box[2] * sx, stored_box[3] * sy};
}

}  // namespace scouter
