// The SCOUTER head (conv1x1 + ReLU, sine embedding, xSlot, loss) against PyTorch: outputs and
// gradients of tests/fixtures/model_conformance.h5, written by tests/tools/make_model_fixtures.py.
// The expected values are PyTorch's float64 results, so they do not depend on the CPU that made
// them. Tolerances:
// - our float32 run: |actual - expected| <= 1e-5 + 1e-4 |expected|. PyTorch's own float32 run
//   sits within 0.27 of this (f32_error_fraction; the generator refuses a case above 0.5, i.e.
//   near the row-sum pole of the normalisation), mostly from the float32 position embedding;
//   another CPU's float32 rounding has a 3.7x margin.
// - our float64 run: |actual - expected| <= 1e-10 max|expected| + 1e-8 |expected|. The float64
//   forward and backward amplify relative input rounding by at most 2.8e3 (amplification;
//   refused above 1e4), so CPUs that round differently move it by ~1e-12 relative.
// A planted error of 1e-3 relative in conv1x1's weight or the GRU's (testing::plant_error)
// fails the float64 check (PlantedErrorIsCaught).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/h5.h"
#include "test_util.h"
#include "worker/fixture_tensors.h"
#include "worker/model/position_embedding.h"
#include "worker/model/scouter_model.h"

namespace scouter {
namespace {

constexpr double kAtol = 1e-5;
constexpr double kRtol = 1e-4;
constexpr double kF64Tol = 1e-10, kF64Rtol = 1e-8;

const std::vector<std::string> kCases = {"plus_spc1_tok1_pow1", "minus_spc2_tok1_pow2",
                                         "plus_spc3_tok3_pow2", "minus_spc1_tok3_pow1",
                                         "plus_spc1_tok1_pow2_9x9"};

std::string fixture_path() { return testing::fixtures_dir() + "/model_conformance.h5"; }

using testing::read_tensor;

void expect_close(const torch::Tensor& actual, const torch::Tensor& expected,
                  const std::string& what) {
  testing::expect_close(actual, expected, what, kAtol, kRtol);
}

// Hands the fixture's feature map through unchanged, so the model's head sees exactly F.
class IdentityBackbone : public BackboneImpl {
 public:
  explicit IdentityBackbone(int64_t channels) { init_head(channels, 0); }
  torch::Tensor forward_features(const torch::Tensor& x) override { return x; }
};

struct HeadCase {
  Config cfg;
  double lambda_value = 0;
  torch::Tensor features, labels;
  std::map<std::string, torch::Tensor> params;  // float32, by state_dict name
};

HeadCase read_case(const std::string& name) {
  auto file = h5::open_file(fixture_path());
  auto group = h5::open_group(file.get(), "cases/" + name);
  const hid_t g = group.get();
  HeadCase c;
  c.cfg.use_slot = true;
  c.cfg.num_classes = h5::read_attr_int(g, "num_classes");
  c.cfg.slots_per_class = h5::read_attr_int(g, "slots_per_class");
  c.cfg.hidden_dim = h5::read_attr_int(g, "hidden_dim");
  c.cfg.to_k_layer = h5::read_attr_int(g, "to_k_layer");
  c.cfg.loss_status = h5::read_attr_int(g, "loss_status");
  c.cfg.power = h5::read_attr_double(g, "power");
  c.lambda_value = h5::read_attr_double(g, "lambda_value");
  c.features = read_tensor(g, "F");
  c.labels = read_tensor(g, "labels");
  auto pg = h5::open_group(g, "params");
  for (const auto& n : h5::list_children(pg.get())) c.params[n] = read_tensor(pg.get(), n);
  return c;
}

// The head in `dtype` with the fixture's parameters; returns every compared output and gradient
// under its fixture name ("expected/logits", "grad/F", ...). `plant` (a parameter name) gets
// a planted error of 1e-3 relative (testing::plant_error).
std::map<std::string, torch::Tensor> run_head(const HeadCase& c, torch::ScalarType dtype,
                                              const std::string& plant = "") {
  ScouterModel model(c.cfg, std::make_shared<IdentityBackbone>(c.features.size(1)));
  auto params = model->named_parameters();
  {
    std::vector<std::string> model_names = params.keys();
    std::set<std::string> fixture_names;
    for (const auto& [n, v] : c.params) fixture_names.insert(n);
    EXPECT_EQ(fixture_names, std::set<std::string>(model_names.begin(), model_names.end()));
    torch::NoGradGuard no_grad;
    for (const auto& [n, v] : c.params) {
      EXPECT_TRUE(params.contains(n)) << n;
      if (!params.contains(n)) continue;
      EXPECT_EQ(params[n].sizes(), v.sizes()) << n;
      params[n].copy_(v);
    }
  }
  model->to(dtype);
  params = model->named_parameters();
  if (!plant.empty()) testing::plant_error(params[plant]);
  auto features = c.features.detach().to(dtype).clone().requires_grad_(true);
  ModelOutput out = model->forward(features);
  LossParts loss = compute_loss(out, c.labels, c.lambda_value);
  loss.total.backward();
  std::map<std::string, torch::Tensor> r;
  r["expected/pos"] = sine_position_embedding(out.feat_h, out.feat_w, c.cfg.hidden_dim,
                                              torch::TensorOptions().dtype(dtype));
  r["expected/logits"] = out.logits;
  r["expected/attn"] = out.attn;
  r["expected/area"] = out.area;
  r["expected/attn_loss"] = out.attn_loss;
  r["expected/nll"] = loss.nll;
  r["expected/total"] = loss.total;
  for (const auto& item : params) r["grad/" + item.key()] = item.value().grad();
  r["grad/F"] = features.grad();
  // The published forward never uses to_q.
  EXPECT_FALSE(params["slot.to_q.0.weight"].grad().defined());
  auto maps = class_attention_maps(out, c.cfg.num_classes, c.cfg.slots_per_class);
  EXPECT_EQ(maps.sizes(), (std::vector<int64_t>{c.features.size(0), c.cfg.num_classes,
                                                c.features.size(2), c.features.size(3)}));
  EXPECT_NEAR(loss.attn.item<double>(), out.attn_loss.item<double>() * c.lambda_value,
              1e-12 + 1e-6 * std::abs(loss.attn.item<double>()));
  return r;
}

class ConformanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConformanceTest, HeadMatchesPyTorch) {
  const HeadCase c = read_case(GetParam());
  auto file = h5::open_file(fixture_path());
  auto g = h5::open_group(file.get(), "cases/" + GetParam());
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kFloat64}) {
    auto actual = run_head(c, dtype);
    for (const auto& [key, value] : actual) {
      auto expected = read_tensor(g.get(), key);
      const std::string what = std::string(dtype == torch::kFloat64 ? "float64 " : "float32 ") + key;
      if (dtype == torch::kFloat32)
        expect_close(value, expected, what);
      else
        testing::expect_close(value, expected, what,
                              kF64Tol * expected.abs().max().item<double>(), kF64Rtol);
    }
  }
}

// conv1x1's weight, or the GRU's hidden weights, with a planted error of 1e-3 relative: the
// float64 comparison must fail for some output or gradient.
TEST_P(ConformanceTest, PlantedErrorIsCaught) {
  const HeadCase c = read_case(GetParam());
  auto file = h5::open_file(fixture_path());
  auto g = h5::open_group(file.get(), "cases/" + GetParam());
  for (const std::string plant : {"conv1x1.weight", "slot.gru.weight_hh_l0"}) {
    double worst = 0;
    for (const auto& [key, value] : run_head(c, torch::kFloat64, plant)) {
      if (key == "expected/pos") continue;
      auto expected = read_tensor(g.get(), key);
      auto v = value.defined() ? value : torch::zeros_like(expected);
      worst = std::max(worst, testing::conformance_ratio(v, expected, kF64Tol, kF64Rtol));
    }
    std::cout << "[ planted  ] " << GetParam() << " " << plant << " x(1+-1e-3): error " << worst
              << " x the tolerance\n";
    EXPECT_GT(worst, 1.0) << plant;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ConformanceTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param; });

TEST(ConformanceFixture, HoldsExactlyTheTestedCases) {
  auto file = h5::open_file(fixture_path());
  auto group = h5::open_group(file.get(), "cases");
  auto names = h5::list_children(group.get());
  std::sort(names.begin(), names.end());
  auto expected = kCases;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(names, expected);
}

TEST(ConformanceFixture, SinePositionEmbeddingMatchesDetr) {
  auto file = h5::open_file(fixture_path());
  auto group = h5::open_group(file.get(), "pos");
  auto names = h5::list_children(group.get());
  ASSERT_FALSE(names.empty());
  for (const auto& name : names) {
    auto g = h5::open_group(group.get(), name);
    auto pos =
        sine_position_embedding(h5::read_attr_int(g.get(), "h"), h5::read_attr_int(g.get(), "w"),
                                h5::read_attr_int(g.get(), "d"));
    expect_close(pos, read_tensor(g.get(), "pos"), "pos " + name);
  }
}

TEST(ConformanceFixture, InitialSlotsFollowTheGlobalSeed) {
  torch::manual_seed(7);
  XSlot a(3, 2, 8, 1, 1, 2.0);
  torch::manual_seed(7);
  XSlot b(3, 2, 8, 1, 1, 2.0);
  EXPECT_EQ(a->initial_slots.sizes(), (std::vector<int64_t>{1, 6, 8}));
  EXPECT_TRUE(torch::equal(a->initial_slots, b->initial_slots));
  XSlot c(3, 2, 8, 1, 1, 2.0);
  EXPECT_FALSE(torch::equal(a->initial_slots, c->initial_slots));
}

TEST(ConformanceFixture, PerClassSumAddsConsecutiveSlots) {
  auto t = torch::arange(12, torch::kFloat32).view({1, 6, 2});  // 3 classes x 2 slots
  auto s = per_class_sum(t, 3, 2);
  EXPECT_TRUE(torch::equal(s, torch::tensor({{{2.f, 4.f}, {10.f, 12.f}, {18.f, 20.f}}})));
  EXPECT_TRUE(torch::equal(per_class_sum(t, 6, 1), t));
}

}  // namespace
}  // namespace scouter
