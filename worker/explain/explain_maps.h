// The one post-processing every explanation method's maps go through (docs/explanations.md,
// "Maps"), so SCOUTER's attention and the FC baselines' CAM family are measured and pictured
// alike. A raw map at feature resolution (SCOUTER: a class's attention summed over its slots;
// FC: the relu'd CAM, Grad-CAM or Grad-CAM++ map) is
//   1. upsampled to the model's input size (torch's bilinear, align_corners = false);
//   2. relu'd and min-max normalised to 0..1, each map on its own (a constant map gives 0);
//   3. FC runs only: raised to grad_min_level and min-max normalised again (the published
//      make_grad; with level 0 this step changes nothing).
// That float map is what every metric measures; a picture is its 8-bit rendering floor(255 m).
#pragma once

#include <torch/torch.h>

#include "common/config.h"

namespace scouter {

// The name metrics.json records for this post-processing ("settings"."map_postprocessing"), so
// numbers from an older pipeline are never pooled with these.
constexpr const char* kMapPostprocessing = "upsample-bilinear,minmax,min_level,minmax";

// The level of step 3 for a run: grad_min_level for FC runs, 0 for SCOUTER runs.
double map_min_level(const Config& cfg);

// raw (..., h, w) -> (..., height, width) float32 in 0..1, steps 1-3.
torch::Tensor explanation_maps(const torch::Tensor& raw, int64_t height, int64_t width,
                               double min_level);

// The 8-bit rendering of explanation maps: floor(255 m) as uint8 (numpy's astype truncates), on
// the CPU.
torch::Tensor render_maps_u8(const torch::Tensor& maps);

// The area metric: the mean of each map over its pixels, (..., H, W) -> (...) float64.
torch::Tensor map_areas(const torch::Tensor& maps);

}  // namespace scouter
