// CAM, Grad-CAM and Grad-CAM++ of the FC baseline from one feature pass and one backward per
// class through the pooled head, and the published post-processing of the maps.
#include "worker/explain/cam.h"

#include <algorithm>

#include "common/error.h"

namespace scouter {

namespace {

// Restores the module's training mode when it goes out of scope.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(torch::nn::Module& m) : module_(m), was_training_(m.is_training()) {
    module_.eval();
  }
  ~EvalModeGuard() { module_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

torch::Tensor fc_weight(BackboneImpl& backbone) {
  auto* w = backbone.named_parameters(/*recurse=*/true).find("fc.weight");
  SCOUTER_CHECK(w != nullptr, "the backbone's head has no fc.weight");
  return w->detach();
}

// Per-channel weights (B x K) of class c from the gradient g = dS_c/dA (B x K x h x w).
torch::Tensor gradient_weights(CamMethod method, const torch::Tensor& grad,
                               const torch::Tensor& features) {
  if (method == CamMethod::kGradCam) return grad.mean({2, 3});
  auto g2 = grad.pow(2);
  auto g3 = g2 * grad;
  auto denom = 2 * g2 + g3 * features.sum({2, 3}, /*keepdim=*/true);
  auto alpha = torch::where(denom != 0, g2 / denom, torch::zeros_like(denom));
  return (alpha * torch::relu(grad)).sum({2, 3});
}

}  // namespace

const std::vector<CamMethod>& all_cam_methods() {
  static const std::vector<CamMethod> methods = {CamMethod::kCam, CamMethod::kGradCam,
                                                 CamMethod::kGradCamPP};
  return methods;
}

std::string cam_method_name(CamMethod m) {
  switch (m) {
    case CamMethod::kCam:
      return "cam";
    case CamMethod::kGradCam:
      return "gradcam";
    case CamMethod::kGradCamPP:
      return "gradcampp";
  }
  return "?";
}

CamOutput cam_maps(ScouterModel& model, const torch::Tensor& images, CamMethod method,
                   const std::vector<int64_t>& classes) {
  if (model->use_slot()) {
    throw UserError(
        "CAM maps need an FC baseline, but this run is a SCOUTER model (use_slot = true)",
        "explain SCOUTER runs with their attention maps (method \"slot\")");
  }
  auto& backbone = *model->backbone;
  if (!backbone.has_head()) {
    throw UserError("CAM maps need a backbone with its fc head, and this one has none",
                    "build the FC baseline with use_slot = false and num_classes > 0");
  }
  std::vector<int64_t> cls = classes;
  if (cls.empty()) {
    for (int64_t c = 0; c < model->num_classes(); ++c) cls.push_back(c);
  }
  for (int64_t c : cls) {
    if (c < 0 || c >= model->num_classes()) {
      throw UserError("class " + std::to_string(c) + " is out of range for CAM maps",
                      "classes are 0 .. " + std::to_string(model->num_classes() - 1));
    }
  }
  EvalModeGuard eval(*model);

  torch::Tensor features;
  {
    torch::NoGradGuard no_grad;
    features = backbone.forward_features(images);
  }
  torch::AutoGradMode grad_on(true);
  auto a = features.detach().requires_grad_(true);
  auto logits = backbone.forward_head(a);

  std::vector<torch::Tensor> maps;
  auto weight = fc_weight(backbone);  // num_classes x K
  for (int64_t c : cls) {
    torch::Tensor w;  // B x K
    if (method == CamMethod::kCam) {
      w = weight[c].unsqueeze(0).expand({features.size(0), -1});
    } else {
      auto grad = torch::autograd::grad({logits.select(1, c).sum()}, {a},
                                        /*grad_outputs=*/{}, /*retain_graph=*/true)[0];
      w = gradient_weights(method, grad, features);
    }
    maps.push_back(torch::relu((w.unsqueeze(2).unsqueeze(3) * features).sum(1)));
  }
  return {logits.detach(), torch::stack(maps, 1)};
}

torch::Tensor cam_target_maps(ScouterModel& model, const torch::Tensor& images,
                              const torch::Tensor& targets, CamMethod method) {
  SCOUTER_CHECK(targets.dim() == 1 && targets.size(0) == images.size(0),
                "cam_target_maps needs one target per image");
  // One backward per distinct target class, not per class of the model.
  auto t = targets.to(torch::kCPU, torch::kInt64).contiguous();
  std::vector<int64_t> cls(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  std::sort(cls.begin(), cls.end());
  cls.erase(std::unique(cls.begin(), cls.end()), cls.end());
  auto out = cam_maps(model, images, method, cls);
  auto column = torch::empty_like(t);
  for (int64_t i = 0; i < t.numel(); ++i) {
    column[i] = std::lower_bound(cls.begin(), cls.end(), t[i].item<int64_t>()) - cls.begin();
  }
  column = column.to(out.maps.device());
  const int64_t h = out.maps.size(2), w = out.maps.size(3);
  return out.maps.gather(1, column.view({-1, 1, 1, 1}).expand({-1, 1, h, w})).squeeze(1);
}

torch::Tensor published_cam_normalize(const torch::Tensor& maps, double grad_min_level) {
  SCOUTER_CHECK(maps.dim() >= 2, "maps must be (..., h, w)");
  const auto min_max = [](const torch::Tensor& m) {
    auto flat = m.flatten(-2);
    auto lo = std::get<0>(flat.min(-1, /*keepdim=*/true));
    auto hi = std::get<0>(flat.max(-1, /*keepdim=*/true));
    auto range = hi - lo;
    // A constant map has no contrast: 0 rather than NaN.
    auto scaled =
        torch::where(range > 0, (flat - lo) / range.clamp_min(1e-30), torch::zeros_like(flat));
    return scaled.view_as(m);
  };
  auto m = min_max(torch::relu(maps.to(torch::kFloat32)));
  return min_max(m.clamp_min(grad_min_level));
}

torch::Tensor upsample_maps(const torch::Tensor& maps, int64_t height, int64_t width) {
  SCOUTER_CHECK(maps.dim() >= 2, "maps must be (..., h, w)");
  auto lead = maps.sizes().slice(0, maps.dim() - 2).vec();
  auto x = maps.to(torch::kFloat32).reshape({-1, 1, maps.size(-2), maps.size(-1)});
  namespace F = torch::nn::functional;
  auto y = F::interpolate(x, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{height, width})
                                 .mode(torch::kBilinear)
                                 .align_corners(false));
  lead.push_back(height);
  lead.push_back(width);
  return y.reshape(lead);
}

}  // namespace scouter
