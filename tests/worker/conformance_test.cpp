// The SCOUTER head (conv1x1 + ReLU, sine embedding, xSlot, loss) against PyTorch: outputs and
// gradients of tests/fixtures/model_conformance.h5, written by tests/tools/make_model_fixtures.py.
// Tolerance, float32 against float32: |actual - expected| <= 1e-5 + 1e-4 * |expected|. Gradients
// differ by up to ~1.5e-5 relative (summation order), and the generator checks that float32
// PyTorch sits within a quarter of this of float64, so the cases are away from the row-sum pole.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "common/h5.h"
#include "test_util.h"
#include "worker/fixture_tensors.h"
#include "worker/position_embedding.h"
#include "worker/scouter_model.h"

namespace scouter {
namespace {

constexpr double kAtol = 1e-5;
constexpr double kRtol = 1e-4;

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

class ConformanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConformanceTest, HeadMatchesPyTorch) {
  auto file = h5::open_file(fixture_path());
  auto group = h5::open_group(file.get(), "cases/" + GetParam());
  const hid_t g = group.get();
  Config cfg;
  cfg.use_slot = true;
  cfg.num_classes = h5::read_attr_int(g, "num_classes");
  cfg.slots_per_class = h5::read_attr_int(g, "slots_per_class");
  cfg.hidden_dim = h5::read_attr_int(g, "hidden_dim");
  cfg.to_k_layer = h5::read_attr_int(g, "to_k_layer");
  cfg.loss_status = h5::read_attr_int(g, "loss_status");
  cfg.power = h5::read_attr_double(g, "power");
  const double lambda_value = h5::read_attr_double(g, "lambda_value");
  auto features = read_tensor(g, "F");
  auto labels = read_tensor(g, "labels");

  ScouterModel model(cfg, std::make_shared<IdentityBackbone>(features.size(1)));
  auto params = model->named_parameters();
  {
    auto pg = h5::open_group(g, "params");
    auto names = h5::list_children(pg.get());
    std::vector<std::string> model_names = params.keys();
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
              std::set<std::string>(model_names.begin(), model_names.end()));
    torch::NoGradGuard no_grad;
    for (const auto& name : names) {
      ASSERT_TRUE(params.contains(name)) << name;
      auto value = read_tensor(pg.get(), name);
      ASSERT_EQ(params[name].sizes(), value.sizes()) << name;
      params[name].copy_(value);
    }
  }

  features.requires_grad_(true);
  ModelOutput out = model->forward(features);
  LossParts loss = compute_loss(out, labels, lambda_value);
  loss.total.backward();

  auto eg = h5::open_group(g, "expected");
  const hid_t e = eg.get();
  expect_close(sine_position_embedding(out.feat_h, out.feat_w, cfg.hidden_dim),
               read_tensor(e, "pos"), "pos");
  expect_close(out.logits, read_tensor(e, "logits"), "logits");
  expect_close(out.attn, read_tensor(e, "attn"), "attn");
  expect_close(out.area, read_tensor(e, "area"), "area");
  expect_close(out.attn_loss, read_tensor(e, "attn_loss"), "attn_loss");
  expect_close(loss.nll, read_tensor(e, "nll"), "nll");
  expect_close(loss.total, read_tensor(e, "total"), "total");
  expect_close(loss.attn, read_tensor(e, "attn_loss") * lambda_value, "lambda * attn_loss");

  auto gg = h5::open_group(g, "grad");
  for (const auto& item : params) {
    expect_close(item.value().grad(), read_tensor(gg.get(), item.key()), "grad " + item.key());
  }
  expect_close(features.grad(), read_tensor(gg.get(), "F"), "grad F");
  // The published forward never uses to_q.
  EXPECT_FALSE(params["slot.to_q.0.weight"].grad().defined());

  auto maps = class_attention_maps(out, cfg.num_classes, cfg.slots_per_class);
  EXPECT_EQ(maps.sizes(), (std::vector<int64_t>{features.size(0), cfg.num_classes, features.size(2),
                                                features.size(3)}));
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
