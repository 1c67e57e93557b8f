// Class activation maps of an FC baseline (the published `--grad` option, torchcam's
// definitions) on the last backbone stage A (B x K x h x w, the input of the pooled `fc` head):
//   CAM        weights w_k = fc.weight[c, k]
//   Grad-CAM   w_k = mean_ij dS_c/dA_kij
//   Grad-CAM++ w_k = sum_ij alpha_kij relu(g_kij), g = dS_c/dA, S_c the class logit,
//              alpha = g^2 / (2 g^2 + sum_ij(A_k) g^3) (0 where the denominator is 0); through
//              the pooled head g is constant over positions, so this equals torchcam's
//              g^2 / (2 g^2 + sum_ij(g^3 A_k))
// map = relu(sum_k w_k A_k). Gradients come from autograd through the head (the features are
// computed once; each class costs one backward through pool + fc).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "worker/model/scouter_model.h"

namespace scouter {

enum class CamMethod { kCam, kGradCam, kGradCamPP };
const std::vector<CamMethod>& all_cam_methods();
std::string cam_method_name(CamMethod m);  // "cam", "gradcam", "gradcampp"

struct CamOutput {
  torch::Tensor logits;  // B x num_classes
  torch::Tensor maps;    // B x T x h x w float, relu'd, before any normalisation
};

// Maps of the classes `classes` (T indices; empty: all classes) for every image, in eval mode.
// UserError for a SCOUTER model (use_slot) or a backbone without head.
CamOutput cam_maps(ScouterModel& model, const torch::Tensor& images, CamMethod method,
                   const std::vector<int64_t>& classes = {});

// Maps of one target class per image (targets: B int64) -> B x h x w, relu'd.
torch::Tensor cam_target_maps(ScouterModel& model, const torch::Tensor& images,
                              const torch::Tensor& targets, CamMethod method);

// The published make_grad post-processing of maps (..., h, w) already resized to the image:
// relu, min-max to 0..1 (per map), max(m, grad_min_level), min-max again. A constant map gives 0.
torch::Tensor published_cam_normalize(const torch::Tensor& maps, double grad_min_level);

// torch's bilinear interpolation (align_corners = false, no antialias), as the published code's
// F.interpolate: maps (..., h, w) float -> (..., H, W).
torch::Tensor upsample_maps(const torch::Tensor& maps, int64_t height, int64_t width);

}  // namespace scouter
