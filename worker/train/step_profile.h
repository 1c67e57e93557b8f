// Where a training step's time goes (`scouter bench --profile true`; docs/speed.md, "Where the
// time goes"): the step run in phases, each timed alone, and the time of each ATen operator taken
// from a RecordFunction observer. CPU only: nothing here waits for a GPU stream.
//
// The split step computes the plain step's gradients bitwise (tests/worker/train/
// step_profile_test.cpp): the head and the loss run on a detached copy of the features that
// requires grad, so the loss's backward stops there, and features.backward(that copy's grad)
// hands the backbone the very tensor autograd would have passed on in one backward.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace scouter {

class ScouterModelImpl;

// Milliseconds of one step's phases.
struct StepPhases {
  double backbone_forward = 0;   // forward_backbone: under autocast and cast to float32 when bf16
  double head_forward = 0;       // conv1x1 + position embedding + xSlot, or the FC head; the loss
  double head_backward = 0;      // the loss's backward down to the features
  double backbone_backward = 0;  // features.backward(their gradient)
  double optimizer = 0;          // zero_grad + step
  double total = 0;              // the whole step, wall clock
};

// Forward and backward of one step in the four timed phases (written into `phases`); the
// gradients are added to the parameters' .grad as backward() adds them.
void split_forward_backward(ScouterModelImpl& model, const torch::Tensor& images,
                            const torch::Tensor& labels, double lambda_value, StepPhases& phases);

// One operator's time on the observing thread, summed over what was observed.
struct OpTime {
  std::string name;  // "aten::conv2d"; an autograd node by its name ("ConvolutionBackward0")
  double ms = 0;
  int64_t calls = 0;
};

// While it lives, times the ATen operators and autograd nodes that this thread runs. Only
// top-level records count (an operator called inside another counts in its caller's time), so
// nothing is counted twice. One at a time per thread. The RecordFunction calls used here are the
// same in LibTorch 1.13 and 2.x.
class OpObserver {
 public:
  OpObserver();
  ~OpObserver();
  OpObserver(const OpObserver&) = delete;
  OpObserver& operator=(const OpObserver&) = delete;

  // Top-level operators, most time first.
  std::vector<OpTime> times() const;
  // Every record seen, nested ones included (how many dispatches the work took).
  int64_t records() const { return records_; }

  // Used by the callbacks.
  void add(const char* name, double ms);
  void count_record() { ++records_; }

 private:
  uint64_t handle_ = 0;
  int64_t records_ = 0;
  std::vector<OpTime> ops_;  // in order of first appearance
};

struct StepProfile {
  bool slot_head = true;    // SCOUTER's head, else the FC head
  int64_t steps = 0;        // timed steps of each table
  StepPhases median;        // each phase's median over the split steps
  std::vector<OpTime> ops;  // summed over the observed plain steps, most time first
  int64_t records = 0;      // over the observed steps, nested ones included
  double observed_ms = 0;   // wall time of the observed steps, summed
};

// The optimizer half of a step, as the bench runs it (LibTorch's AdamW, or FlatAdamW over flat
// parameters as bf16 training on the CPU uses).
struct StepOptimizer {
  std::function<void()> zero_grad, step;
};

// `steps` split steps (after one warm-up), timed by phase, then `steps` runs of plain_step (the
// bench's own step: zero_grad, forward, loss, backward, optimizer step) under an OpObserver.
StepProfile profile_step(ScouterModelImpl& model, const StepOptimizer& optimizer,
                         const torch::Tensor& images, const torch::Tensor& labels,
                         double lambda_value, int64_t steps,
                         const std::function<void()>& plain_step);

// The two markdown tables: phases (ms per step, % of the step) and the top 12 operators by time
// (ms per step, % of the summed operator time, calls per step, µs per call) with "other", and a
// line with the operators per step.
std::string step_profile_tables(const StepProfile& profile);

}  // namespace scouter
