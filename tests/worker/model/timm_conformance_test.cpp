// Our resnet18, resnet50, resnest26d and resnest50d against timm itself
// (tests/fixtures/backbone_timm.h5, written by tests/tools/make_backbone_fixtures.py): the same
// state_dict keys, timm's parameter counts, and the same features and logits for weights that
// both sides fill from one formula (tests/tools/fixture_values.py), in eval and training mode,
// with 3 channels and with 1. The expected values are timm's float64 results: they hold on any
// x86-64 CPU, whatever its vector width (see the tolerances below).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "common/h5.h"
#include "common/text.h"
#include "test_util.h"
#include "worker/model/backbone.h"
#include "worker/fixture_tensors.h"

namespace scouter {
namespace {

// Tolerances, both relative to max|ref| of the compared tensor (the generator's measure):
// - float32 eval against timm's float64 result: |error| <= 1e-5 max|ref|.
//   timm's own float32 forward sits within 8.3e-7 of it (eval_f32_error, measured and refused
//   above 2.5e-6 by the generator), and ours runs the same kind of kernels, so another CPU's
//   float32 rounding has a 10x margin here.
// - float64 (eval and training mode) against the same reference: |error| <= 1e-9 max|ref|. The
//   training-mode forward amplifies input rounding by at most 1.4e4 (train_amplification,
//   refused above 1e5); measured here with AVX-512, AVX2 and SSE4.1 kernels (ATEN_CPU_CAPABILITY,
//   ONEDNN_MAX_CPU_ISA, OPENBLAS_CORETYPE) the float64 error stays below 7e-12 max|ref|.
// A planted error of 1e-3 relative in one conv weight (testing::plant_error) must fail it:
// PlantedErrorIsCaught.
constexpr double kF32EvalTol = 1e-5;
constexpr double kF64Tol = 1e-9, kF64Rtol = 0;

struct Case {
  std::string name, label;
  int64_t in_chans = 0, num_classes = 0;
  torch::Tensor x;  // float32
  std::map<std::string, torch::Tensor> expected;  // features_eval, logits_eval, features_train, ...
};

std::vector<Case> read_cases(const std::string& name) {
  auto file = h5::open_file(testing::fixtures_dir() + "/backbone_timm.h5");
  auto inputs = h5::open_group(file.get(), "inputs");
  auto model_group = h5::open_group(file.get(), name);
  std::vector<Case> cases;
  for (const std::string& case_name : h5::list_children(model_group.get())) {
    auto g = h5::open_group(model_group.get(), case_name);
    Case c;
    c.name = case_name;
    c.in_chans = h5::read_attr_int(g.get(), "in_chans");
    c.num_classes = h5::read_attr_int(g.get(), "num_classes");
    c.label = name + " " + case_name + " (" + h5::read_attr_string(g.get(), "stem") + " stem)";
    c.x = testing::read_tensor(inputs.get(), "x" + std::to_string(c.in_chans));
    for (const char* key : {"features_eval", "logits_eval", "features_train", "logits_train"})
      c.expected[key] = testing::read_tensor(g.get(), key);
    cases.push_back(std::move(c));
  }
  return cases;
}

// Features and logits of `bb` on x in eval mode, then in training mode (as the generator ran
// them), in bb's dtype.
std::map<std::string, torch::Tensor> run_modes(BackboneImpl& bb, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> out;
  for (const std::string mode : {"eval", "train"}) {
    bb.train(mode == "train");
    auto feats = bb.forward_features(x);
    out["logits_" + mode] = bb.forward_head(feats);
    out["features_" + mode] = feats;
  }
  return out;
}

std::shared_ptr<BackboneImpl> float64_backbone(const std::string& name, const Case& c) {
  auto bb = make_backbone(name, c.in_chans, c.num_classes);
  testing::fill_conformance(*bb);
  bb->to(torch::kFloat64);
  return bb;
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
  for (const Case& c : read_cases(name)) {
    // float64, eval then training mode: the architecture and BatchNorm's batch statistics.
    auto bb = float64_backbone(name, c);
    for (const auto& [key, actual] : run_modes(*bb, c.x.to(torch::kFloat64)))
      testing::expect_conformant(actual, c.expected.at(key), c.label + " " + key, kF64Tol, kF64Rtol);
    // float32 eval: what inference and the published pictures run.
    auto bb32 = make_backbone(name, c.in_chans, c.num_classes);
    testing::fill_conformance(*bb32);
    auto out32 = run_modes(*bb32, c.x);
    for (const char* key : {"features_eval", "logits_eval"})
      testing::expect_conformant(out32[key], c.expected.at(key), c.label + " float32 " + key,
                                 kF32EvalTol, 0);
  }
}

// The tolerances above are tight enough to matter: a planted error of 1e-3 relative in one conv weight
// (testing::plant_error) (the stem's first conv, or the last conv of layer4) fails the float64 comparison
// in both modes and for every model.
TEST_P(TimmConformance, PlantedErrorIsCaught) {
  const std::string name = GetParam();
  const Case c = read_cases(name).front();
  std::vector<std::string> convs;
  for (const auto& p : make_backbone(name, c.in_chans, c.num_classes)->named_parameters())
    if (p.value().dim() == 4) convs.push_back(p.key());
  ASSERT_GE(convs.size(), 2u);
  for (const std::string& conv : {convs.front(), convs.back()}) {
    auto bb = float64_backbone(name, c);
    testing::plant_error(bb->named_parameters()[conv]);
    for (const auto& [key, actual] : run_modes(*bb, c.x.to(torch::kFloat64))) {
      const double ratio = testing::conformance_ratio(actual, c.expected.at(key), kF64Tol, kF64Rtol);
      std::cout << "[ planted  ] " << c.label << " " << conv << " x(1+-1e-3): " << key
                << " error " << ratio << " x the tolerance\n";
      EXPECT_GT(ratio, 1.0) << c.label << " " << key << " did not notice " << conv;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backbones, TimmConformance,
                         ::testing::Values("resnet18", "resnet50", "resnest26d", "resnest50d"));

}  // namespace
}  // namespace scouter
