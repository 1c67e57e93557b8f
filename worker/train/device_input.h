// The GPU input path. Raw batches (the stored uint8 pixels plus each row's augmentation
// parameters, datasets/batch_loader.h raw mode) go to the device through pinned memory with
// non-blocking copies and are resized, augmented and normalised there, so the loader thread only
// gathers bytes and the host never waits for the GPU (a copy from pageable memory would). The
// steps are those of the CPU path (datasets/image_ops.h), in its order: PIL's bilinear resize
// through uint8 (two passes, each rounded to whole levels), flips, the affine jitter (bilinear,
// zero outside), then (v / 255 - mean) / std. The resize is bit-exact (PIL's fixed-point weights
// and integer rounding, computed exactly in float64); the affine sampling runs in float32 instead
// of float64 and agrees within 0.01 of a grey level (tests/worker/train/device_input_test.cpp
// measures both on CPU tensors; tests/gpu/ compares the GPU with CPU tensors).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "datasets/batch_loader.h"
#include "datasets/shard_format.h"

namespace scouter {

// B x C x H x W pixels (uint8 or float holding whole levels 0..255) resized exactly as PIL's
// bilinear filter resizes an 8-bit image: float B x C x out_h x out_w. weights_w / weights_h: the
// passes' weight matrices (pil_weights) when cached, else computed here.
torch::Tensor resize_like_pil(const torch::Tensor& pixels, int64_t out_h, int64_t out_w,
                              const torch::Tensor& weights_w = {}, const torch::Tensor& weights_h = {});
// PIL's fixed-point weights of one pass, in_size -> out_size, as a float64 in_size x out_size
// matrix on `device` (the right-hand side of the pass's product).
torch::Tensor pil_weights(int64_t in_size, int64_t out_size, const torch::Device& device);
// Pinned host memory for a CUDA device (an asynchronous copy needs it); `t` itself otherwise.
torch::Tensor host_tensor(const torch::Tensor& t, const torch::Device& device);

// Row r of float B x C x H x W images flipped and warped as datasets/image_ops.cpp's
// apply_augment(params[r]) would (params empty: unchanged).
torch::Tensor augment_rows(torch::Tensor images, const std::vector<AugmentParams>& params);

class DeviceInput {
 public:
  // meta: the shards' (channels, stored size, mean and std); the output is out_h x out_w.
  DeviceInput(const ShardMeta& meta, int64_t out_h, int64_t out_w, torch::Device device,
              bool channels_last);

  struct Prepared {
    torch::Tensor images;  // float B x C x out_h x out_w on the device, normalised
    torch::Tensor labels;  // int64 B on the device
  };
  // A raw batch (make_raw_batch); a float batch (the CPU path's) is only copied to the device.
  Prepared prepare(Batch&& batch) const;

 private:
  torch::Tensor upload(const torch::Tensor& host) const;

  int64_t out_h_, out_w_;
  torch::Device device_;
  bool channels_last_;
  torch::Tensor gain_, offset_;  // 1 x C x 1 x 1 on the device
  torch::Tensor weights_w_, weights_h_;  // pil_weights of the two passes (undefined: no resize)
};

}  // namespace scouter
