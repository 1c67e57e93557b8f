#include "worker/model/attention_maps.h"

namespace scouter {

torch::Tensor normalized_maps(const torch::Tensor& class_maps) {
  auto maps = class_maps.detach().to(torch::kFloat);
  auto flat = maps.reshape({maps.size(0), -1});
  auto lo = std::get<0>(flat.min(1, true));
  auto hi = std::get<0>(flat.max(1, true));
  auto range = hi - lo;
  auto scaled = (flat - lo) / range.clamp_min(1e-30);
  return torch::where(range > 0, scaled, torch::zeros_like(scaled)).reshape(maps.sizes());
}

torch::Tensor normalized_maps_u8(const torch::Tensor& class_maps) {
  torch::NoGradGuard no_grad;
  // numpy's astype(uint8) truncates; values are already within 0..255.
  return (normalized_maps(class_maps) * 255.0f).floor().clamp(0, 255).to(torch::kUInt8);
}

torch::Tensor area_sizes(const torch::Tensor& maps_u8, const torch::Tensor& classes) {
  int64_t b = maps_u8.size(0);
  int64_t hw = maps_u8.size(2) * maps_u8.size(3);
  auto idx =
      classes.to(torch::kLong).view({b, 1, 1, 1}).expand({b, 1, maps_u8.size(2), maps_u8.size(3)});
  auto chosen = maps_u8.to(torch::kDouble).gather(1, idx);
  return chosen.sum({1, 2, 3}) / static_cast<double>(hw * 255);
}

}  // namespace scouter
