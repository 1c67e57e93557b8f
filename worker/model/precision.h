// Mixed precision for the forward pass: while an AutocastScope lives, convolutions and matrix
// products on `device` run in bfloat16 (PyTorch's autocast), everything else as autocast decides.
// The model uses it around the backbone only (worker/model/scouter_model.cpp). Works with
// Debian's LibTorch 1.13 and PyTorch's 2.x, whose autocast calls differ.
#pragma once

#include <torch/torch.h>

namespace scouter {

class AutocastScope {
 public:
  // enabled false: does nothing. The autocast weight cache is off (a cached cast of a weight
  // would go stale after the optimizer step and cannot live in a CUDA graph).
  AutocastScope(torch::DeviceType device, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  torch::DeviceType device_;
  bool enabled_;
  bool was_enabled_ = false;
  torch::ScalarType was_dtype_ = torch::kFloat;
  bool was_caching_ = true;
};

}  // namespace scouter
