// FlatParams: parameters and gradients as views of two flat buffers (worker/comm/flat_params.h).
#include "worker/comm/flat_params.h"

#include <gtest/gtest.h>

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

TEST(FlatParams, ParametersAndGradientsAreViewsOfTwoBuffers) {
  auto ps = make_params(1);
  std::vector<torch::Tensor> before;
  for (auto& [n, p] : ps) before.push_back(p.detach().clone());
  FlatParams flat(ps);
  EXPECT_EQ(flat.numel(), 8 * 27 + 8 + 40 + 5);
  // Reverse model order: fc.bias first, conv.weight last.
  EXPECT_EQ(flat.slots().front().name, "fc.bias");
  EXPECT_EQ(flat.slots().back().name, "conv.weight");
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_TRUE(torch::equal(ps[i].second, before[i])) << ps[i].first;  // values kept
  }
  // channels_last survives.
  EXPECT_TRUE(ps[0].second.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_EQ(ps[0].second.strides(), before[0].strides());
  // A change through the flat buffer is a change of the parameter, and backward accumulates into
  // the gradient buffer.
  {
    torch::NoGradGuard no_grad;
    flat.values().add_(1);
  }
  EXPECT_TRUE(torch::allclose(ps[2].second, before[2] + 1));
  flat.zero_grad();
  auto x = torch::randn({2, 3, 5, 5});
  auto y = torch::conv2d(x, ps[0].second).sum() * 2 + (ps[2].second.sum() + ps[3].second.sum()) * 3;
  y.backward();
  const auto& fb = flat.slots().front();  // fc.bias: d/db = 3
  EXPECT_TRUE(torch::all(flat.grads().narrow(0, fb.offset, fb.numel) == 3).item<bool>());
  EXPECT_TRUE(torch::all(ps[3].second.grad() == 3).item<bool>());
  EXPECT_EQ(ps[3].second.grad().data_ptr<float>(), flat.grads().data_ptr<float>() + fb.offset);
  EXPECT_TRUE(torch::all(ps[1].second.grad() == 0).item<bool>());  // bn.weight unused: stays 0
}

}  // namespace
}  // namespace scouter
