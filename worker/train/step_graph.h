// One training step captured as a CUDA graph and replayed: the forward, loss, backward, NCCL
// averaging and AdamW of a step are hundreds of small kernels (the slot head especially), and a
// replay launches them all at once instead of one by one. The captured body must read its inputs
// from tensors that live across replays (copy each batch into them), take no host value that
// changes between steps (the optimizer keeps step count and learning rate on the device), and
// never wait on the host. Only in builds against a CUDA LibTorch; elsewhere supported() is false.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>

namespace scouter {

class StepGraph {
 public:
  static bool supported();
  explicit StepGraph(torch::Device device);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // Records `body` on a side stream (its kernels are captured, not run). Call it after a few
  // eager steps, so that lazy initialisation and cuDNN's autotuning are done.
  void capture(const std::function<void()>& body);
  // Runs the captured step on the current stream.
  void replay();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Keeps the host at most two steps ahead of the GPU without ever draining it: each call records an
// event on the current stream and waits for the one recorded two calls before. (Without it the
// host could queue many steps of input buffers.) A no-op on CPU devices and CPU builds.
class StepFence {
 public:
  explicit StepFence(torch::Device device);
  ~StepFence();
  StepFence(const StepFence&) = delete;
  StepFence& operator=(const StepFence&) = delete;
  void step();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scouter
