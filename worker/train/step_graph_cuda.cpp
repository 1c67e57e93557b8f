// StepGraph on a CUDA LibTorch (compiled only there; step_graph_stub.cpp elsewhere).
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "common/error.h"
#include "worker/train/step_graph.h"

namespace scouter {

struct StepGraph::Impl {
  explicit Impl(torch::Device d) : device(d) {}
  torch::Device device;
  at::cuda::CUDAGraph graph;
  bool captured = false;
};

bool StepGraph::supported() { return true; }

StepGraph::StepGraph(torch::Device device) : impl_(std::make_unique<Impl>(device)) {
  SCOUTER_CHECK(device.is_cuda(), "StepGraph needs a CUDA device");
}

StepGraph::~StepGraph() = default;

void StepGraph::capture(const std::function<void()>& body) {
  SCOUTER_CHECK(!impl_->captured, "StepGraph captured twice");
  c10::cuda::CUDAGuard device_guard(impl_->device);
  auto current = c10::cuda::getCurrentCUDAStream(impl_->device.index());
  auto side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, impl_->device.index());
  // Everything enqueued so far (the eager steps, this step's input) must be ordered before the
  // graph's first replay; capture itself runs nothing.
  at::cuda::CUDAEvent ready;
  ready.record(current);
  ready.block(side);
  {
    c10::cuda::CUDAStreamGuard stream_guard(side);
    impl_->graph.capture_begin();
    body();
    impl_->graph.capture_end();
  }
  at::cuda::CUDAEvent done;
  done.record(side);
  done.block(current);
  impl_->captured = true;
}

void StepGraph::replay() {
  SCOUTER_CHECK(impl_->captured, "StepGraph replayed before capture");
  impl_->graph.replay();
}

struct StepFence::Impl {
  explicit Impl(torch::Device d) : device(d) {}
  torch::Device device;
  at::cuda::CUDAEvent events[3];
  int64_t calls = 0;
};

StepFence::StepFence(torch::Device device)
    : impl_(device.is_cuda() ? std::make_unique<Impl>(device) : nullptr) {}

StepFence::~StepFence() = default;

void StepFence::step() {
  if (!impl_) return;
  auto stream = c10::cuda::getCurrentCUDAStream(impl_->device.index());
  const int64_t k = impl_->calls++;
  if (k >= 2) impl_->events[(k - 2) % 3].synchronize();
  impl_->events[k % 3].record(stream);
}

}  // namespace scouter
