// FlatParams (parameters and gradients as views of two flat buffers) and FlatAdamW (AdamW with
// device-side step count and learning rate, capturable in a CUDA graph) against LibTorch's own
// AdamW, on CPU tensors.
#include "worker/train/flat_adamw.h"

#include <gtest/gtest.h>

#include "worker/comm/flat_params.h"
#include "worker/run/optimizer_state.h"

namespace scouter {
namespace {

std::vector<std::pair<std::string, torch::Tensor>> make_params(uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<std::pair<std::string, torch::Tensor>> ps;
  ps.emplace_back("conv.weight", torch::randn({8, 3, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast)
                                     .requires_grad_(true));
  ps.emplace_back("bn.weight", (1 + 0.1 * torch::randn({8})).requires_grad_(true));
  ps.emplace_back("fc.weight", torch::randn({5, 8}).requires_grad_(true));
  ps.emplace_back("fc.bias", torch::randn({5}).requires_grad_(true));
  return ps;
}

// Five steps on the same gradients: FlatAdamW computes LibTorch's AdamW (same operations; its step
// count and learning rate are float64 device scalars instead of host doubles, and the flat
// buffer's elements may take the vectorised or the scalar loop of each kernel, so the two agree
// to float32 rounding: 1e-6 relative after 5 steps, measured 2e-7). Both kernels: the tensor
// operations (the GPU's) and the fused CPU loop (one pass, float32 as LibTorch's kernels).
class FlatAdamWKernel : public testing::TestWithParam<FlatAdamW::Kernel> {};

TEST_P(FlatAdamWKernel, MatchesLibTorchAdamW) {
  auto ref = make_params(2);
  auto mine = make_params(2);
  std::vector<torch::Tensor> ref_list;
  for (auto& [n, p] : ref) ref_list.push_back(p);
  torch::optim::AdamW opt(ref_list, torch::optim::AdamWOptions(3e-3).weight_decay(0.01));
  FlatParams flat(mine);
  FlatAdamW fopt(flat, 3e-3, 0.01, 0.9, 0.999, 1e-8, GetParam());
  for (int step = 0; step < 5; ++step) {
    if (step == 3) {  // a learning-rate change, as StepLR makes
      for (auto& g : opt.param_groups()) g.options().set_lr(1e-3);
      fopt.set_lr(1e-3);
    }
    torch::manual_seed(100 + step);
    for (size_t i = 0; i < ref.size(); ++i) {
      auto g = torch::randn(ref[i].second.sizes());
      ref[i].second.mutable_grad() = g.clone();
      mine[i].second.grad().copy_(g);
    }
    opt.step();
    fopt.step();
  }
  for (size_t i = 0; i < ref.size(); ++i) {
    const auto& a = mine[i].second;
    const auto& b = ref[i].second;
    double err = (a - b).abs().max().item<double>() / b.abs().max().item<double>();
    EXPECT_LT(err, 1e-6) << ref[i].first;
    // And a wrong update would show: one step's worth is far above that.
    EXPECT_GT((b - make_params(2)[i].second).abs().max().item<double>() / b.abs().max().item<double>(), 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, FlatAdamWKernel,
                         testing::Values(FlatAdamW::Kernel::kTensorOps, FlatAdamW::Kernel::kFused),
                         [](const testing::TestParamInfo<FlatAdamW::Kernel>& i) {
                           return i.param == FlatAdamW::Kernel::kFused ? "Fused" : "TensorOps";
                         });

// The state goes out into a torch::optim::AdamW (what checkpoints write) and back into another
// FlatAdamW (a resumed run), which then continues exactly as the original.
TEST(FlatAdamW, StateRoundTripsThroughLibTorchAdamW) {
  auto a_ps = make_params(3);
  auto b_ps = make_params(3);
  FlatParams a(a_ps), b(b_ps);
  FlatAdamW fa(a, 1e-3, 0.01), fb(b, 1e-3, 0.01);
  auto grads = [](FlatParams& f, int step) {
    torch::manual_seed(200 + step);
    f.grads().copy_(torch::randn({f.numel()}));
  };
  for (int s = 0; s < 3; ++s) {
    grads(a, s);
    fa.step();
  }
  std::vector<torch::Tensor> list;
  for (auto& [n, p] : a_ps) list.push_back(p);
  torch::optim::AdamW container(list, torch::optim::AdamWOptions(1e-3).weight_decay(0.01));
  fa.export_to(container);
  auto& st = static_cast<torch::optim::AdamWParamState&>(*container.state().begin()->second);
  EXPECT_EQ(st.step(), 3);
  // b gets a's weights and state (as a checkpoint load would give them).
  {
    torch::NoGradGuard no_grad;
    b.values().copy_(a.values());
  }
  std::vector<torch::Tensor> blist;
  for (auto& [n, p] : b_ps) blist.push_back(p);
  torch::optim::AdamW bcontainer(blist, torch::optim::AdamWOptions(1e-3).weight_decay(0.01));
  for (size_t i = 0; i < a_ps.size(); ++i) {
    auto& from = static_cast<torch::optim::AdamWParamState&>(
        *container.state().at(optimizer_state_key(a_ps[i].second)));
    auto copy = std::make_unique<torch::optim::AdamWParamState>();
    copy->step(from.step());
    copy->exp_avg(from.exp_avg().clone());
    copy->exp_avg_sq(from.exp_avg_sq().clone());
    bcontainer.state()[optimizer_state_key(b_ps[i].second)] = std::move(copy);
  }
  fb.import_from(bcontainer);
  for (int s = 3; s < 5; ++s) {
    grads(a, s);
    grads(b, s);
    fa.step();
    fb.step();
  }
  EXPECT_TRUE(torch::equal(a.values(), b.values()));
}

}  // namespace
}  // namespace scouter
