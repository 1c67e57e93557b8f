// One optimisation step, on the CPU or a GPU: forward, loss, backward, gradients averaged across
// ranks, AdamW, and the batch's loss and accuracy added to sums that stay on the device (read once
// per progress line and once per epoch, so a GPU is never drained to print a number).
//
// CPU: LibTorch's AdamW, gradient buckets filled by copies (worker/comm/grad_sync.h), float
// batches from the loader - bitwise what this project always computed.
// CUDA: batches through the GPU input path (worker/train/device_input.h); parameters and
// gradients in flat buffers (worker/comm/flat_params.h) with a capturable AdamW
// (worker/train/flat_adamw.h); channels_last; cuDNN autotuning; bf16 autocast when precision says
// so; and, unless cuda_graphs = false or gradients travel over MPI, the whole step captured once
// as a CUDA graph (worker/train/step_graph.h) after a few eager steps and replayed from then on.
//
// Gradient accumulation (accum_steps = K > 1): run() takes one micro-batch; every K-th call ends
// an optimizer step. The K backward passes add into the gradients, GradSync averages their sum
// over the ranks once, dividing by ranks x K, and AdamW steps once: the gradient of R ranks x K
// micro-batches is the mean of the R x K micro-batch gradients, as R x K ranks would compute it
// (up to the order of the sum). Each micro-batch's forward normalises with its own BatchNorm
// batch statistics; only the first micro-batch of a step updates the running statistics (the
// later ones' updates are undone), so rank r's running statistics are those rank r x K of an
// R x K-rank run holds: rank 0's, which every rank takes before evaluating and saving, are the
// same. Accumulated steps run eager (no CUDA graph: the graph holds one whole step).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"
#include "datasets/batch_loader.h"
#include "datasets/shard_format.h"
#include "worker/comm/distributed.h"
#include "worker/comm/flat_params.h"
#include "worker/comm/grad_sync.h"
#include "worker/model/scouter_model.h"
#include "worker/run/device.h"
#include "worker/train/device_input.h"
#include "worker/train/flat_adamw.h"
#include "worker/train/step_graph.h"

namespace scouter {

// How steps run. for_device(): everything on for CUDA; on the CPU nothing in fp32 (bitwise the
// steps this project always computed), and in bf16 channels_last (oneDNN's bf16 convolutions are
// fastest on NHWC data) and the flat parameters with FlatAdamW's fused CPU loop (docs/speed.md). Tests switch the pieces on for CPU tensors to check them
// against the CPU path.
struct StepOptions {
  bool flat = false;           // FlatParams + FlatAdamW (+ GradSync flat mode)
  bool gpu_input = false;      // raw batches through DeviceInput
  bool channels_last = false;  // 4-d weights and inputs in channels_last
  static StepOptions for_device(torch::Device device, bool bf16) {
    bool cuda = device.is_cuda();
    return {cuda || bf16, cuda, cuda || bf16};
  }
};

struct StepSums {
  double loss = 0, nll = 0, attn = 0, correct = 0, count = 0;  // loss terms times batch sizes
  double bad_grad_steps = 0;  // steps whose gradients (after averaging) were not all finite
  // Whether every step since the last reset had a finite loss (both terms) and finite gradients.
  bool finite() const;
  // "the nll loss term", "the attention loss term", "the gradients" or a combination.
  std::string non_finite_terms() const;
  std::vector<double> values() const;  // in the order above (checkpoints store them so)
};

class StepRunner {
 public:
  // The model must already sit on `device` with its starting weights; `meta` and the output size
  // describe the training images (for the GPU input path).
  StepRunner(const Config& cfg, ScouterModel& model, torch::Device device, Distributed& dist,
             const ShardMeta& meta, int64_t out_h, int64_t out_w, StepOptions options);

  // The optimizer state as checkpoints and broadcasts read and write it. After changing it
  // (resume, broadcast) call state_changed(); before reading it, call sync_state_out().
  torch::optim::AdamW& optimizer() { return *optimizer_; }
  void state_changed();
  void sync_state_out();
  // Starts averaging gradients across ranks (after the weights and state are final).
  void start_gradient_sync();
  GradSync* sync() const { return sync_.get(); }

  void set_lr(double lr);
  // One micro-batch (its size is the training batch size); returns whether it ended an optimizer
  // step (always with accum_steps = 1).
  bool run(Batch&& batch);
  // Micro-batches of the current optimizer step done (0 at a step boundary).
  int64_t micro_batch() const { return micro_; }
  // This rank's sums since the last reset (reads the device). A non-finite loss term or gradient
  // in any step makes them non-finite (StepSums::finite).
  StepSums sums() const;
  // Whether the trainer should read sums() after every step to stop at the first non-finite
  // one: on the CPU (reading costs nothing); on a GPU only per progress line and epoch, so the
  // device is never drained for it.
  bool checks_every_step() const { return !cuda_; }
  void reset_sums();
  // Starts the sums from values saved in a mid-epoch checkpoint (kSumsPerRank of them).
  void set_sums(const std::vector<double>& values);

  // The GPU input path (null on the CPU), for evaluation batches.
  const DeviceInput* input() const { return input_.get(); }
  bool graph_captured() const { return graph_ != nullptr; }
  std::string describe() const;  // "eager", "CUDA graph after 3 eager steps", ...
  const PrecisionChoice& precision() const { return precision_; }

 private:
  void step_body(const torch::Tensor& images, const torch::Tensor& labels);
  void micro_step(const torch::Tensor& images, const torch::Tensor& labels);
  torch::Tensor gradients_finite();
  void optimizer_step();
  void add_sums(const ModelOutput& out, const LossParts& loss, const torch::Tensor& labels,
                const torch::Tensor& grads_finite);
  bool graphs_allowed() const;

  const Config& cfg_;
  ScouterModel& model_;
  torch::Device device_;
  Distributed& dist_;
  StepOptions opt_;
  PrecisionChoice precision_;
  bool cuda_;
  std::vector<std::pair<std::string, torch::Tensor>> trained_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<FlatParams> flat_;
  std::unique_ptr<FlatAdamW> flat_opt_;
  std::unique_ptr<GradSync> sync_;
  std::unique_ptr<DeviceInput> input_;
  std::unique_ptr<StepGraph> graph_;
  std::unique_ptr<StepFence> fence_;
  torch::Tensor static_images_, static_labels_;
  torch::Tensor sums_;  // float64 on the device: loss*n, nll*n, attn*n, correct, n, bad grad steps
  int64_t eager_steps_ = 0;
  int64_t accum_ = 1;  // micro-batches per optimizer step
  int64_t micro_ = 0;  // of them done in the current step
};

// Parameters the model defines but never uses in its forward pass (the published xSlot's to_q):
// they get no gradient, so no optimizer state; the flat GPU path leaves them out.
std::vector<std::string> unused_parameters(const ScouterModel& model);
// The parameters an optimizer steps, by name: those that require gradients, less the unused
// ones where `leave_out_unused` (the flat path: StepOptions::flat).
std::vector<std::pair<std::string, torch::Tensor>> trained_parameters(const ScouterModel& model,
                                                                      bool leave_out_unused);
// Puts the model's 4-d weights into channels_last (StepOptions::channels_last).
void to_channels_last(ScouterModel& model);

}  // namespace scouter
