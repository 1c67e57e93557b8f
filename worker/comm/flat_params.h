// The trained parameters of a model as views into one flat buffer, and their gradients as views
// into a second buffer of the same layout. The optimizer (worker/train/flat_adamw.h) and the
// gradient averaging (worker/comm/grad_sync.h) then work on a few large tensors: a handful of
// kernels per step, and no copies of gradients into or out of communication buckets (backward
// accumulates straight into the buffer). Used on CUDA, where it makes the captured step short.
// Layout: reverse model order (the order backward produces gradients), so that gradient buckets
// are contiguous ranges. Each parameter keeps its own strides (channels_last stays
// channels_last). Nothing may replace a parameter's storage afterwards (Module::to, set_data):
// copy_ into it instead, as checkpoints and broadcasts do.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace scouter {

class FlatParams {
 public:
  struct Slot {
    std::string name;
    torch::Tensor param;
    int64_t offset = 0, numel = 0;
  };

  // params: trained parameters in model order, all of one floating dtype and device, each dense
  // (contiguous or channels_last). Their values are kept.
  explicit FlatParams(const std::vector<std::pair<std::string, torch::Tensor>>& params);
  FlatParams(const FlatParams&) = delete;
  FlatParams& operator=(const FlatParams&) = delete;

  const std::vector<Slot>& slots() const { return slots_; }  // layout order
  const torch::Tensor& values() const { return values_; }    // 1-d, every parameter
  const torch::Tensor& grads() const { return grads_; }      // 1-d, every gradient
  int64_t numel() const { return values_.numel(); }
  // Zeroes every gradient in place (they stay views of grads()).
  void zero_grad() { grads_.zero_(); }
  // Re-attaches each parameter's gradient view (after code that reset a .grad).
  void attach_grads();

 private:
  std::vector<Slot> slots_;
  torch::Tensor values_, grads_;
};

}  // namespace scouter
