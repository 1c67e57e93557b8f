// StepGraph where LibTorch has no CUDA: never supported, never constructed.
#include "common/error.h"
#include "worker/train/step_graph.h"

namespace scouter {

struct StepGraph::Impl {};

bool StepGraph::supported() { return false; }

StepGraph::StepGraph(torch::Device) {
  throw Error("CUDA graphs need a build against a CUDA LibTorch");
}

StepGraph::~StepGraph() = default;
void StepGraph::capture(const std::function<void()>&) {}
void StepGraph::replay() {}

struct StepFence::Impl {};
StepFence::StepFence(torch::Device) {}
StepFence::~StepFence() = default;
void StepFence::step() {}

}  // namespace scouter
