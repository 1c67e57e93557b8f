// Our resnet18, resnet50, resnest26d and resnest50d against timm itself
// (tests/fixtures/backbone_timm.h5, written by tests/tools/make_backbone_fixtures.py): the same
// state_dict keys, timm's parameter counts, and the same features and logits for weights that
// both sides fill from one formula, in eval and training mode, with 3 channels and with 1.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "common/h5.h"
#include "common/text.h"
#include "test_util.h"
#include "worker/backbone.h"
#include "worker/fixture_tensors.h"

namespace scouter {
namespace {

// Timm and we run the same oneDNN kernels here, so results agree to rounding; the bound leaves
// room for other kernels: |ours - timm| <= 1e-4 |timm| + 1e-5 max|timm| elementwise.
constexpr double kRtol = 1e-4, kScaledAtol = 1e-5;

void expect_conformant(const torch::Tensor& actual, const torch::Tensor& expected,
                       const std::string& what) {
  const double scale = expected.abs().max().item<double>();
  auto err = (actual.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs();
  std::cout << "[ timm     ] " << what << ": max |error| " << err.max().item<double>()
            << ", relative to max |timm| " << err.max().item<double>() / scale << "\n";
  testing::expect_close(actual, expected, what, kScaledAtol * scale, kRtol);
}

class TimmConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(TimmConformance, KeysAndParameterCountAreTimms) {
  const std::string name = GetParam();
  auto file = h5::open_file(testing::fixtures_dir() + "/backbone_timm.h5");
  auto g = h5::open_group(file.get(), name);
  auto full = make_backbone(name, 3, 1000);
  int64_t count = 0;
  for (const auto& p : full->parameters()) count += p.numel();
  EXPECT_EQ(count, h5::read_attr_int(g.get(), "param_count"));
  std::set<std::string> timm_keys;
  for (const auto& k : split(h5::read_attr_string(g.get(), "keys"), '\n')) timm_keys.insert(k);
  std::set<std::string> ours;
  for (const auto& p : full->named_parameters()) ours.insert(p.key());
  for (const auto& b : full->named_buffers()) ours.insert(b.key());
  EXPECT_EQ(ours, timm_keys);
}

TEST_P(TimmConformance, FeaturesAndLogitsMatchTimm) {
  const std::string name = GetParam();
  auto file = h5::open_file(testing::fixtures_dir() + "/backbone_timm.h5");
  auto inputs = h5::open_group(file.get(), "inputs");
  auto model_group = h5::open_group(file.get(), name);
  for (const std::string& case_name : h5::list_children(model_group.get())) {
    auto g = h5::open_group(model_group.get(), case_name);
    const int64_t in_chans = h5::read_attr_int(g.get(), "in_chans");
    auto bb = make_backbone(name, in_chans, h5::read_attr_int(g.get(), "num_classes"));
    testing::fill_deterministic(*bb);
    auto x = testing::read_tensor(inputs.get(), "x" + std::to_string(in_chans));
    torch::NoGradGuard no_grad;
    // eval first: training mode moves the running statistics, as it did in timm.
    for (const std::string mode : {"eval", "train"}) {
      if (!h5::exists(g.get(), "features_" + mode)) continue;
      bb->train(mode == "train");
      auto feats = bb->forward_features(x);
      auto logits = bb->forward_head(feats);
      const std::string what =
          name + " " + case_name + " (" + h5::read_attr_string(g.get(), "stem") + " stem) " + mode;
      expect_conformant(feats, testing::read_tensor(g.get(), "features_" + mode),
                        what + " features");
      expect_conformant(logits, testing::read_tensor(g.get(), "logits_" + mode), what + " logits");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backbones, TimmConformance,
                         ::testing::Values("resnet18", "resnet50", "resnest26d", "resnest50d"));

}  // namespace
}  // namespace scouter
