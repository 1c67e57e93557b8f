// Data-parallel gradient averaging (what LibTorch's C++ API lacks: DistributedDataParallel).
// The trained parameters are packed into buckets of about bucket_bytes, in reverse model order
// (the order backward produces them), identically on every rank. A hook on each parameter copies
// its gradient into its bucket during backward; when a bucket's last gradient arrives, its
// allreduce starts at once and runs while backward continues (overlap). finish_step() starts
// what is left (parameters that got no gradient contribute zeros), waits with the communicator's
// deadline, divides by the world size and writes the averages into param.grad. Parameters that
// no rank gives a gradient (SCOUTER's slot.to_q) keep no gradient, as in one process.
//
// Flat mode (the CUDA path): the buckets are contiguous ranges of a FlatParams gradient buffer,
// which backward accumulates into directly; a hook after each accumulation counts the bucket's
// gradients and starts its allreduce when the last one is in. No copy in, no copy out. With a
// backend that completes on the compute stream (NCCL), finish_step() waits for nothing on the
// host: the optimizer's kernels follow the allreduce on the stream, and the backend's fence()
// after each step guards the deadline. That makes the whole step capturable in a CUDA graph.
//
// Flat mode keeps each parameter's AccumulateGrad node alive (the hooks live on it), and LibTorch
// gives such a node, for good, the CUDA stream that was current when it was made. Backward then
// runs the accumulation on that stream, joined to the stream that produced the gradient by an
// event. A CUDA graph is captured on a side stream while the eager steps ran on the default
// stream, and making the (legacy) default stream wait on the capturing one is illegal
// (cudaErrorStreamCaptureImplicit): recreate_accumulators() inside the capture remakes the nodes,
// with their hooks, on the capturing stream.
//
// Gradient accumulation (worker/train/step_runner.h): backward runs once per micro-batch into
// param.grad (the flat buffer in flat mode) with the hooks disarmed; only the last micro-batch's
// backward is armed, by begin_step(/*keep_gradients=*/true), and its buckets then carry the sum
// over the step's micro-batches (in copy mode each hook adds the gradient accumulated so far to
// the one it receives). finish_step() divides the sum over ranks by world x micro-batches, so a
// step averages every micro-batch of every rank.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "worker/comm/reduce_backend.h"

namespace scouter {

struct GradSyncStats {
  int64_t steps = 0;
  double wait_s = 0;     // time finish_step() spent waiting for communication
  double finish_s = 0;   // time in finish_step() overall (launch, wait, copy back)
  int64_t bytes_per_step = 0;
};

class FlatParams;

class GradSync {
 public:
  // params: the trained parameters (requires_grad) with their names, in model order.
  GradSync(std::vector<std::pair<std::string, torch::Tensor>> params,
           std::shared_ptr<ReduceBackend> backend, int64_t bucket_bytes, bool overlap);
  // Flat mode over `flat` (which must outlive this object): begin_step() zeroes its gradients.
  GradSync(FlatParams& flat, std::shared_ptr<ReduceBackend> backend, int64_t bucket_bytes,
           bool overlap);
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Arms the hooks for one backward pass. keep_gradients: the gradients of the step's earlier
  // micro-batches are in param.grad (flat mode: not zeroed) and go into the buckets too.
  void begin_step(bool keep_gradients = false);
  // After backward: completes every bucket and leaves averaged gradients in param.grad (the sum
  // over ranks divided by world x micro_batches).
  void finish_step();
  // Micro-batches each rank sums per step (accum_steps; 1 unless set).
  void set_micro_batches(int64_t n) { micro_batches_ = n; }
  // Flat mode: drops the AccumulateGrad nodes held since construction and makes new ones, with
  // the same hooks, on the current CUDA stream (call it with the capture stream current, before
  // the captured forward). No-op otherwise. Throws if anything else still holds an old node (a
  // live autograd graph of an earlier step), since the new node would then not be used.
  void recreate_accumulators();

  size_t num_buckets() const { return buckets_.size(); }
  // Parameter names of each bucket, in bucket order (for logs and tests).
  std::vector<std::vector<std::string>> bucket_layout() const;
  const GradSyncStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

 private:
  struct Slot {
    std::string name;
    torch::Tensor param;
    size_t bucket = 0;
    int64_t offset = 0, numel = 0;
    unsigned hook = 0;
    bool ready = false;
  };
  struct Bucket {
    torch::Tensor flat;
    std::vector<size_t> slots;
    size_t pending = 0;
    bool started = false;
  };
  void on_grad(size_t slot, const torch::Tensor& grad);
  void on_accumulated(size_t slot);
  void start(size_t bucket);
  void check_same_parameters_everywhere();
  void finish_flat();
  void attach_accumulator_hooks();

  FlatParams* flat_params_ = nullptr;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;  // flat mode: kept alive
  std::vector<uintptr_t> post_hooks_;

  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  std::shared_ptr<ReduceBackend> backend_;
  bool overlap_;
  bool armed_ = false;
  bool keep_gradients_ = false;
  int64_t micro_batches_ = 1;
  bool checked_ = false;
  GradSyncStats stats_;
};

}  // namespace scouter
