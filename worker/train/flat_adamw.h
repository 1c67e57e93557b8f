// AdamW over a FlatParams: LibTorch's update (decoupled weight decay, bias-corrected moments,
// eps added after the square root) on the flat buffers, with the step count and the learning
// rate held as device tensors. No host value enters a step, so a CUDA graph can capture it and
// replay it with the count advancing. Its state moves in and out of a torch::optim::AdamW, which
// checkpoints and the start-up broadcast read and write (export_to before, import_from after).
#pragma once

#include <torch/torch.h>

#include "worker/comm/flat_params.h"

namespace scouter {

class FlatAdamW {
 public:
  // How step() computes. kAuto: kFused for contiguous float32 buffers on the CPU, else kTensorOps.
  // kTensorOps: a dozen whole-buffer tensor operations whose scalars stay on the device (what a
  // CUDA graph can capture). kFused (CPU float32 only): one pass over the buffers, parallel over
  // LibTorch's intra-op threads, reading each element of parameters, gradients and moments once
  // and allocating nothing: the optimizer is memory-bound, and the tensor operations pass over
  // the buffers about ten times and allocate three temporaries of their size every step.
  enum class Kernel { kAuto, kTensorOps, kFused };

  FlatAdamW(FlatParams& flat, double lr, double weight_decay, double beta1 = 0.9,
            double beta2 = 0.999, double eps = 1e-8, Kernel kernel = Kernel::kAuto);

  // Sets the learning rate of the next steps (a fill of a device scalar: call it outside a graph).
  void set_lr(double lr);
  // One AdamW step over every parameter from the gradients in flat.grads().
  void step();

  // Writes the state into `opt` (which must be built over the same parameters): per parameter
  // exp_avg, exp_avg_sq and the step count. Reads the step count back to the host.
  void export_to(torch::optim::AdamW& opt) const;
  // Takes the state from `opt` (after a checkpoint was loaded into it or broadcast to it);
  // parameters without state there start from zero moments. All must share one step count.
  void import_from(torch::optim::AdamW& opt);

 private:
  void fused_step();

  FlatParams& flat_;
  bool fused_;
  double beta1_, beta2_, eps_, weight_decay_;
  torch::Tensor exp_avg_, exp_avg_sq_;
  torch::Tensor step_, lr_;  // 0-d float64 on the parameters' device
};

}  // namespace scouter
