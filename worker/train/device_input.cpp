#include "worker/train/device_input.h"

#include <cmath>

#include "common/error.h"
#include "datasets/image_ops.h"
#include "worker/run/tensor_batch.h"

namespace scouter {
namespace {

namespace F = torch::nn::functional;

// One of PIL's 8-bit passes along the last axis of float64 x (whole levels): a product with the
// fixed-point weight matrix, then floor((sum + 2^21) / 2^22) clipped to 0..255. Every number is an
// integer below 2^53, so float64 computes PIL's integer arithmetic exactly.
torch::Tensor pil_pass(const torch::Tensor& x, const torch::Tensor& weights_t) {
  constexpr double kOne = static_cast<double>(1 << kPilPrecisionBits);
  return x.matmul(weights_t).add_(kOne / 2).div_(kOne).floor_().clamp_(0, 255);
}

}  // namespace

torch::Tensor host_tensor(const torch::Tensor& t, const torch::Device& device) {
  return device.is_cuda() ? t.pin_memory() : t;
}


torch::Tensor pil_weights(int64_t in_size, int64_t out_size, const torch::Device& device) {
  std::vector<int32_t> w = pil_bilinear_weights(static_cast<int>(in_size), static_cast<int>(out_size));
  auto t = torch::from_blob(w.data(), {out_size, in_size}, torch::kInt).to(torch::kFloat64).t().contiguous();
  return host_tensor(t, device).to(device, /*non_blocking=*/true);
}

torch::Tensor resize_like_pil(const torch::Tensor& pixels, int64_t out_h, int64_t out_w,
                              const torch::Tensor& weights_w, const torch::Tensor& weights_h) {
  SCOUTER_CHECK(pixels.dim() == 4, "resize_like_pil needs B x C x H x W");
  const int64_t b = pixels.size(0), c = pixels.size(1), h = pixels.size(2), w = pixels.size(3);
  if (out_h == h && out_w == w) return pixels.to(torch::kFloat);
  auto x = pixels.to(torch::kFloat64).reshape({b * c, h, w});
  // PIL resamples horizontally first, then vertically, keeping 8 bits in between.
  if (out_w != w)
    x = pil_pass(x, weights_w.defined() ? weights_w : pil_weights(w, out_w, pixels.device()));
  if (out_h != h) {
    auto wh = weights_h.defined() ? weights_h : pil_weights(h, out_h, pixels.device());
    x = pil_pass(x.transpose(1, 2), wh).transpose(1, 2);
  }
  return x.to(torch::kFloat).reshape({b, c, out_h, out_w});
}

torch::Tensor augment_rows(torch::Tensor images, const std::vector<AugmentParams>& params) {
  if (params.empty()) return images;
  SCOUTER_CHECK(static_cast<int64_t>(params.size()) == images.size(0),
                "augment_rows: one parameter set per row");
  const double h = static_cast<double>(images.size(2)), w = static_cast<double>(images.size(3));
  std::vector<int64_t> flip_h, flip_v, affine;
  std::vector<float> theta;
  for (size_t r = 0; r < params.size(); ++r) {
    const AugmentParams& p = params[r];
    if (p.flip_h) flip_h.push_back(static_cast<int64_t>(r));
    if (p.flip_v) flip_v.push_back(static_cast<int64_t>(r));
    if (!p.affine) continue;
    affine.push_back(static_cast<int64_t>(r));
    // image_ops.cpp maps output pixel q to source c + S^-1 R^-1 (q - c - t); in grid_sample's
    // normalised coordinates (align_corners false) that is this 2 x 3 matrix.
    const double th = p.rotate_deg * M_PI / 180.0, cs = std::cos(th), sn = std::sin(th);
    const double tx = p.translate_x * w, ty = p.translate_y * h;
    const double row[6] = {cs / p.scale_x, -sn * h / (w * p.scale_x), -2 * (cs * tx - sn * ty) / (w * p.scale_x),
                           sn * w / (h * p.scale_y), cs / p.scale_y, -2 * (sn * tx + cs * ty) / (h * p.scale_y)};
    theta.insert(theta.end(), row, row + 6);
  }
  const torch::Device device = images.device();
  auto index = [&](const std::vector<int64_t>& rows) {
    auto t = torch::tensor(rows, torch::kLong);
    return host_tensor(t, device).to(device, /*non_blocking=*/true);
  };
  if (!flip_h.empty()) {
    auto i = index(flip_h);
    images.index_copy_(0, i, images.index_select(0, i).flip({3}));
  }
  if (!flip_v.empty()) {
    auto i = index(flip_v);
    images.index_copy_(0, i, images.index_select(0, i).flip({2}));
  }
  if (!affine.empty()) {
    auto i = index(affine);
    auto n = static_cast<int64_t>(affine.size());
    auto t = torch::from_blob(theta.data(), {n, 2, 3}, torch::kFloat).clone();
    t = host_tensor(t, device).to(device, /*non_blocking=*/true);
    auto sub = images.index_select(0, i);
    auto grid = F::affine_grid(t, sub.sizes(), /*align_corners=*/false);
    auto warped = F::grid_sample(sub, grid, F::GridSampleFuncOptions()
                                                .mode(torch::kBilinear)
                                                .padding_mode(torch::kZeros)
                                                .align_corners(false));
    images.index_copy_(0, i, warped);
  }
  return images;
}

DeviceInput::DeviceInput(const ShardMeta& meta, int64_t out_h, int64_t out_w, torch::Device device,
                         bool channels_last)
    : out_h_(out_h), out_w_(out_w), device_(device), channels_last_(channels_last) {
  const int64_t c = meta.channels;
  SCOUTER_CHECK(static_cast<int64_t>(meta.mean.size()) == c && static_cast<int64_t>(meta.std.size()) == c,
                "shard metadata: one mean and std per channel");
  // The CPU path's per-channel affine form of (v / 255 - mean) / std, in the same float32 values.
  std::vector<float> gain(c), offset(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    gain[ch] = static_cast<float>(1.0 / (255.0 * meta.std[ch]));
    offset[ch] = static_cast<float>(-meta.mean[ch] / meta.std[ch]);
  }
  gain_ = torch::tensor(gain).view({1, c, 1, 1}).to(device);
  offset_ = torch::tensor(offset).view({1, c, 1, 1}).to(device);
  if (out_w != meta.width) weights_w_ = pil_weights(meta.width, out_w, device);
  if (out_h != meta.height) weights_h_ = pil_weights(meta.height, out_h, device);
}

torch::Tensor DeviceInput::upload(const torch::Tensor& host) const {
  return host_tensor(host, device_).to(device_, /*non_blocking=*/true);
}

DeviceInput::Prepared DeviceInput::prepare(Batch&& batch) const {
  Prepared out;
  if (batch.pixels.empty()) {  // a float batch of the CPU path
    TensorBatch tb = to_tensors(std::move(batch));
    out.images = upload(tb.images);
    out.labels = upload(tb.labels);
  } else {
    auto px = torch::from_blob(batch.pixels.data(), {batch.size, batch.channels, batch.height, batch.width},
                               torch::kUInt8);
    auto labels = torch::from_blob(batch.labels.data(), {batch.size}, torch::kLong);
    // from_blob borrows the batch's vectors: pin_memory copies them; on a CPU device, clone.
    px = device_.is_cuda() ? upload(px) : px.clone();
    out.labels = device_.is_cuda() ? upload(labels) : labels.clone();
    auto x = resize_like_pil(px, out_h_, out_w_, weights_w_, weights_h_);
    x = augment_rows(x, batch.augment);
    out.images = x.mul_(gain_).add_(offset_);
  }
  if (channels_last_) out.images = out.images.contiguous(torch::MemoryFormat::ChannelsLast);
  return out;
}

}  // namespace scouter
