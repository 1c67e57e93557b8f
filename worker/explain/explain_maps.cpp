#include "worker/explain/explain_maps.h"

#include "worker/explain/cam.h"

namespace scouter {

double map_min_level(const Config& cfg) { return cfg.use_slot ? 0.0 : cfg.grad_min_level; }

torch::Tensor explanation_maps(const torch::Tensor& raw, int64_t height, int64_t width,
                               double min_level) {
  // published_cam_normalize is steps 2 and 3 (make_grad after its upsampling).
  return published_cam_normalize(upsample_maps(raw.detach(), height, width), min_level);
}

torch::Tensor render_maps_u8(const torch::Tensor& maps) {
  return (maps.detach() * 255).floor().clamp(0, 255).to(torch::kUInt8).cpu();
}

torch::Tensor map_areas(const torch::Tensor& maps) {
  return maps.detach().to(torch::kFloat64).mean({-2, -1});
}

}  // namespace scouter
