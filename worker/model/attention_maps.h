// The published explanation maps of SCOUTER (docs/explanations.md, "Attention pictures after
// training"): per image, the class maps are min-max normalised jointly (all classes and
// positions), scaled to 0..255 and truncated to uint8; the area size of a class is the sum of its
// map / (h * w * 255).
#pragma once

#include <torch/torch.h>

namespace scouter {

// class_maps: B x C x h x w float -> the same, jointly min-max normalised per image to 0..1.
// An image whose maps are constant gets all zeros (the published code would divide by zero).
torch::Tensor normalized_maps(const torch::Tensor& class_maps);

// class_maps: B x C x h x w float -> B x C x h x w uint8 (normalized_maps * 255, truncated). An image whose maps are constant
// gets all zeros (the published code would divide by zero).
torch::Tensor normalized_maps_u8(const torch::Tensor& class_maps);

// Area size of class classes[b] for every image b: float64 tensor of B values in 0..1.
torch::Tensor area_sizes(const torch::Tensor& maps_u8, const torch::Tensor& classes);

}  // namespace scouter
