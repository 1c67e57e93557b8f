#include "worker/train/state_sync.h"

#include <map>

#include "worker/run/optimizer_state.h"

namespace scouter {
namespace {

// Broadcasts tensors through one flat buffer per dtype.
void broadcast_tensors(std::vector<torch::Tensor>& tensors, ReduceBackend& backend, int root,
                       const std::string& what) {
  torch::NoGradGuard no_grad;
  std::map<c10::ScalarType, std::vector<torch::Tensor*>> by_type;
  for (auto& t : tensors) by_type[t.scalar_type()].push_back(&t);
  for (auto& [type, group] : by_type) {
    std::vector<torch::Tensor> parts;
    for (auto* t : group) parts.push_back(t->reshape({-1}));
    torch::Tensor flat = torch::cat(parts);
    backend.broadcast(flat, root, what);
    int64_t off = 0;
    for (auto* t : group) {
      t->copy_(flat.narrow(0, off, t->numel()).view(t->sizes()));
      off += t->numel();
    }
  }
}

}  // namespace

void broadcast_module(torch::nn::Module& module, ReduceBackend& backend, int root) {
  std::vector<torch::Tensor> tensors;
  for (auto& p : module.parameters(true)) tensors.push_back(p);
  for (auto& b : module.buffers(true)) tensors.push_back(b);
  broadcast_tensors(tensors, backend, root, "broadcast of parameters and buffers");
}

void broadcast_buffers(torch::nn::Module& module, ReduceBackend& backend, int root) {
  std::vector<torch::Tensor> tensors;
  for (auto& b : module.buffers(true)) tensors.push_back(b);
  if (!tensors.empty()) broadcast_tensors(tensors, backend, root, "broadcast of buffers");
}

void broadcast_adamw_state(torch::optim::Optimizer& optimizer, ReduceBackend& backend, int root) {
  std::vector<torch::Tensor> params;
  for (auto& g : optimizer.param_groups())
    for (auto& p : g.params()) params.push_back(p);
  // Which parameters have state on root, and their step counts (-1: none).
  auto steps = torch::full({static_cast<int64_t>(params.size())}, int64_t{-1}, torch::kLong);
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = optimizer.state().find(optimizer_state_key(params[i]));
    if (it != optimizer.state().end())
      steps[static_cast<int64_t>(i)] = static_cast<torch::optim::AdamWParamState&>(*it->second).step();
  }
  backend.broadcast(steps, root, "broadcast of optimizer steps");
  std::vector<torch::Tensor> moments;
  for (size_t i = 0; i < params.size(); ++i) {
    int64_t step = steps[static_cast<int64_t>(i)].item<int64_t>();
    auto key = optimizer_state_key(params[i]);
    if (step < 0) {
      optimizer.state().erase(key);
      continue;
    }
    auto it = optimizer.state().find(key);
    if (it == optimizer.state().end()) {
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->exp_avg(torch::zeros_like(params[i], torch::MemoryFormat::Preserve));
      st->exp_avg_sq(torch::zeros_like(params[i], torch::MemoryFormat::Preserve));
      it = optimizer.state().emplace(key, std::move(st)).first;
    }
    auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
    st.step(step);
    moments.push_back(st.exp_avg());
    moments.push_back(st.exp_avg_sq());
  }
  broadcast_tensors(moments, backend, root, "broadcast of optimizer moments");
}

}  // namespace scouter
