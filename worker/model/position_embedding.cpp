// DETR's PositionEmbeddingSine (normalize = true), written with the same float32 tensor ops in
// the same order as the published Python so the two agree to the last bit or two. Asked for
// float64 (a float64 model: conformance tests), it computes the same ops in float64 instead:
// float32 sin/cos round differently on different CPUs, which would otherwise leak into float64
// results.
#include "worker/model/position_embedding.h"

#include <cmath>

#include "common/error.h"

namespace scouter {

namespace {

// sin of the even features, cos of the odd ones, interleaved: [..., P] -> [..., P].
torch::Tensor sin_cos_interleave(const torch::Tensor& pos) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  auto even = pos.index({"...", Slice(0, None, 2)}).sin();
  auto odd = pos.index({"...", Slice(1, None, 2)}).cos();
  return torch::stack({even, odd}, /*dim=*/-1).flatten(-2);
}

}  // namespace

torch::Tensor sine_position_embedding(int64_t h, int64_t w, int64_t d,
                                      const torch::TensorOptions& options) {
  SCOUTER_CHECK(h > 0 && w > 0, "feature map must be non-empty");
  SCOUTER_CHECK(d > 0 && d % 4 == 0, "d must be a multiple of 4 (d/2 sin-cos pairs per axis)");
  const int64_t num_feats = d / 2;
  constexpr double kTemperature = 10000.0;
  constexpr double kEps = 1e-6;
  const double scale = 2.0 * M_PI;
  const bool f64 = c10::typeMetaToScalarType(options.dtype()) == torch::kFloat64;
  auto opts = options.dtype(f64 ? torch::kFloat64 : torch::kFloat32);

  // cumsum of an all-true mask is 1..h (rows) and 1..w (columns); its last entry is h (or w).
  auto y_embed = torch::arange(1, h + 1, opts).view({h, 1}).expand({h, w});
  auto x_embed = torch::arange(1, w + 1, opts).view({1, w}).expand({h, w});
  y_embed = y_embed / (torch::full({}, static_cast<double>(h), opts) + kEps) * scale;
  x_embed = x_embed / (torch::full({}, static_cast<double>(w), opts) + kEps) * scale;

  auto dim_t = torch::arange(num_feats, opts);
  dim_t = torch::pow(kTemperature, 2 * torch::div(dim_t, 2, "floor") / num_feats);

  auto pos_x = sin_cos_interleave(x_embed.unsqueeze(-1) / dim_t);  // h x w x P
  auto pos_y = sin_cos_interleave(y_embed.unsqueeze(-1) / dim_t);
  return torch::cat({pos_y, pos_x}, /*dim=*/-1).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

}  // namespace scouter
