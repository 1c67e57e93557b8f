#include "worker/explain/cam.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/h5.h"
#include "test_util.h"
#include "worker/fixture_tensors.h"

namespace scouter {
namespace {

// A backbone whose feature map is its input, so a test chooses A directly.
class IdentityBackboneImpl : public BackboneImpl {
 public:
  IdentityBackboneImpl(int64_t channels, int64_t num_classes) { init_head(channels, num_classes); }
  torch::Tensor forward_features(const torch::Tensor& x) override { return x; }
};

constexpr int64_t kChannels = 3, kClasses = 4, kH = 2, kW = 3;

// An FC model over an identity backbone with the head fc = (weight, bias).
ScouterModel fc_model(const torch::Tensor& weight, const torch::Tensor& bias) {
  Config cfg;
  cfg.use_slot = false;
  cfg.num_classes = weight.size(0);
  ScouterModel model(cfg, std::make_shared<IdentityBackboneImpl>(weight.size(1), weight.size(0)));
  torch::NoGradGuard no_grad;
  auto params = model->backbone->named_parameters();
  params["fc.weight"].copy_(weight);
  params["fc.bias"].copy_(bias);
  return model;
}

// The hand-made head: W[c, k] with negative and zero entries.
ScouterModel fc_model() {
  return fc_model(
      torch::tensor(
          {{1.0f, -0.5f, 2.0f}, {0.0f, 1.5f, -1.0f}, {-2.0f, 0.25f, 0.0f}, {0.5f, 0.5f, 0.5f}}),
      torch::tensor({0.1f, -0.2f, 0.3f, 0.0f}));
}

// Two images of 3 x 2 x 3 features, positive channel sums (Grad-CAM++'s alpha is defined).
torch::Tensor features() {
  return torch::tensor({{{{1.0f, 2.0f, 0.0f}, {0.5f, 3.0f, 1.0f}},
                         {{0.0f, 1.0f, 4.0f}, {2.0f, 0.0f, 1.0f}},
                         {{3.0f, 0.0f, 1.0f}, {0.0f, 0.5f, 2.0f}}},
                        {{{0.2f, 0.0f, 1.0f}, {1.0f, 0.0f, 0.3f}},
                         {{2.0f, 2.0f, 0.0f}, {0.0f, 1.0f, 0.0f}},
                         {{0.0f, 1.0f, 0.0f}, {4.0f, 0.0f, 1.0f}}}});
}

// relu(sum_k weight(b, c, k) A[b, k]) by loops, in double: the closed forms of the header.
template <typename WeightFn>
torch::Tensor closed_form(const torch::Tensor& a, WeightFn weight) {
  const int64_t batch = a.size(0);
  auto out = torch::zeros({batch, kClasses, kH, kW}, torch::kFloat64);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t c = 0; c < kClasses; ++c) {
      for (int64_t i = 0; i < kH; ++i) {
        for (int64_t j = 0; j < kW; ++j) {
          double v = 0;
          for (int64_t k = 0; k < kChannels; ++k)
            v += weight(b, c, k) * a[b][k][i][j].item<double>();
          out[b][c][i][j] = std::max(v, 0.0);
        }
      }
    }
  }
  return out;
}

void expect_maps(const torch::Tensor& actual, const torch::Tensor& expected, const char* what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_LE((actual.to(torch::kFloat64) - expected).abs().max().item<double>(), 1e-5) << what;
}

TEST(CamMaps, CamIsTheWeightedSumOfTheFeatures) {
  auto model = fc_model();
  auto w = model->backbone->named_parameters()["fc.weight"].detach();
  auto a = features();
  auto out = cam_maps(model, a, CamMethod::kCam);
  expect_maps(out.maps,
              closed_form(a, [&](int64_t, int64_t c, int64_t k) { return w[c][k].item<double>(); }),
              "cam");
  // logits = W mean(A) + bias
  auto expected_logits =
      torch::matmul(a.mean({2, 3}), w.t()) + torch::tensor({0.1f, -0.2f, 0.3f, 0.0f});
  EXPECT_LE((out.logits - expected_logits).abs().max().item<double>(), 1e-6);
  EXPECT_FALSE(out.logits.requires_grad());
  // Some class maps are negative somewhere, so relu matters: class 2 of image 0 at (0, 0) is
  // -2 * 1 + 0.25 * 0 = -2 -> 0.
  EXPECT_EQ(out.maps[0][2][0][0].item<float>(), 0.0f);
}

TEST(CamMaps, GradCamIsCamOverTheMapSize) {
  // Through global average pooling dS_c/dA_kij = W[c, k] / (h w) at every position.
  auto model = fc_model();
  auto w = model->backbone->named_parameters()["fc.weight"].detach();
  auto out = cam_maps(model, features(), CamMethod::kGradCam);
  expect_maps(
      out.maps,
      closed_form(features(), [&](int64_t, int64_t c,
                                  int64_t k) { return w[c][k].item<double>() / (kH * kW); }),
      "gradcam");
}

TEST(CamMaps, GradCamPlusPlusClosedForm) {
  // g_k = W[c, k] / (h w) is constant over positions, so alpha_k = g^2 / (2 g^2 + g^3 S_k)
  // = 1 / (2 + g_k S_k) with S_k = sum_ij A_k (0 where g_k = 0), and
  // weight_k = sum_ij alpha_k relu(g_k) = h w relu(g_k) alpha_k.
  auto model = fc_model();
  auto w = model->backbone->named_parameters()["fc.weight"].detach();
  auto a = features();
  auto out = cam_maps(model, a, CamMethod::kGradCamPP);
  auto expected = closed_form(a, [&](int64_t b, int64_t c, int64_t k) {
    const double g = w[c][k].item<double>() / (kH * kW);
    if (g == 0) return 0.0;
    const double s = a[b][k].sum().item<double>();
    const double alpha = 1.0 / (2.0 + g * s);
    return kH * kW * std::max(g, 0.0) * alpha;
  });
  expect_maps(out.maps, expected, "gradcampp");
  // Class 2 has one positive weight (channel 1), so its map is a scaled copy of A_1.
  const double g = 0.25 / (kH * kW);
  const double s = a[0][1].sum().item<double>();
  EXPECT_NEAR(out.maps[0][2][0][2].item<double>(), kH * kW * g / (2 + g * s) * 4.0, 1e-6);
}

TEST(CamMaps, ClassSubsetAndTargetMaps) {
  auto model = fc_model();
  auto a = features();
  for (CamMethod m : all_cam_methods()) {
    auto all = cam_maps(model, a, m).maps;
    auto some = cam_maps(model, a, m, {2, 0}).maps;
    ASSERT_EQ(some.sizes(), (std::vector<int64_t>{2, 2, kH, kW}));
    EXPECT_TRUE(torch::equal(some.select(1, 0), all.select(1, 2))) << cam_method_name(m);
    EXPECT_TRUE(torch::equal(some.select(1, 1), all.select(1, 0))) << cam_method_name(m);
    auto target = cam_target_maps(model, a, torch::tensor({int64_t{3}, int64_t{1}}), m);
    ASSERT_EQ(target.sizes(), (std::vector<int64_t>{2, kH, kW}));
    EXPECT_TRUE(torch::equal(target[0], all[0][3])) << cam_method_name(m);
    EXPECT_TRUE(torch::equal(target[1], all[1][1])) << cam_method_name(m);
  }
  EXPECT_THROW(cam_maps(model, a, CamMethod::kCam, {kClasses}), UserError);
}

TEST(CamMaps, KeepsTheTrainingModeAndNamesTheMethods) {
  auto model = fc_model();
  model->train();
  cam_maps(model, features(), CamMethod::kGradCam);
  EXPECT_TRUE(model->is_training());
  EXPECT_EQ(cam_method_name(CamMethod::kCam), "cam");
  EXPECT_EQ(cam_method_name(CamMethod::kGradCam), "gradcam");
  EXPECT_EQ(cam_method_name(CamMethod::kGradCamPP), "gradcampp");
  EXPECT_EQ(all_cam_methods().size(), 3u);
}

TEST(CamMaps, ScouterModelIsAUserError) {
  Config cfg;
  cfg.model = "smallcnn";
  cfg.use_slot = true;
  cfg.num_classes = 2;
  ScouterModel model(cfg, 1);
  EXPECT_THROW(cam_maps(model, torch::zeros({1, 1, 28, 28}), CamMethod::kCam), UserError);
}

TEST(CamNormalize, PublishedMakeGradSteps) {
  // relu -> [0, 0, 1, 3]; min-max -> [0, 0, 1/3, 1]; max(., 0.3) -> [0.3, 0.3, 1/3, 1];
  // min-max -> [0, 0, (1/3 - 0.3) / 0.7, 1].
  auto maps = torch::tensor({{{-1.0f, 0.0f}, {1.0f, 3.0f}}, {{2.0f, 2.0f}, {2.0f, 2.0f}}});
  auto n = published_cam_normalize(maps, 0.3);
  ASSERT_EQ(n.sizes(), maps.sizes());
  EXPECT_FLOAT_EQ(n[0][0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(n[0][0][1].item<float>(), 0.0f);
  EXPECT_NEAR(n[0][1][0].item<double>(), (1.0 / 3.0 - 0.3) / 0.7, 1e-6);
  EXPECT_FLOAT_EQ(n[0][1][1].item<float>(), 1.0f);
  // A constant map (the second, per map) has no contrast: zeros, not NaN.
  EXPECT_EQ(n[1].abs().sum().item<float>(), 0.0f);
  // Level 0: a plain min-max of the relu'd map.
  auto plain = published_cam_normalize(maps[0], 0.0);
  EXPECT_NEAR(plain[1][0].item<double>(), 1.0 / 3.0, 1e-6);
}

TEST(CamUpsample, BilinearHalfPixelCentres) {
  // Output pixel i maps to source (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to
  // [0, 1]: 0, 0.25, 0.75, 1. The map 2 r + c is linear, so bilinear gives 2 r' + c' exactly.
  auto maps = torch::tensor({{0.0f, 1.0f}, {2.0f, 3.0f}}).expand({2, 3, 2, 2});
  auto up = upsample_maps(maps, 4, 4);
  ASSERT_EQ(up.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
  const double pos[4] = {0.0, 0.25, 0.75, 1.0};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_NEAR(up[1][2][i][j].item<double>(), 2 * pos[i] + pos[j], 1e-6) << i << "," << j;
    }
  }
  // A 2-D map keeps its rank.
  EXPECT_EQ(upsample_maps(maps[0][0], 3, 5).sizes(), (std::vector<int64_t>{3, 5}));
}

TEST(CamReference, MatchesPyTorchAutogradWithTorchcamFormulas) {
  // tests/tools/make_cam_fixtures.py: a random conv net's features and a Linear head, maps by
  // PyTorch autograd in float64 from the same float32 inputs; ours in float32. PyTorch's own
  // float32 maps sit within 0.007 of these tolerances of the float64 reference (the generator
  // refuses a fixture above 0.25), so any CPU's float32 rounding passes with a wide margin.
  auto file = h5::open_file(testing::fixtures_dir() + "/cam_reference.h5");
  auto model = fc_model(testing::read_tensor(file.get(), "fc_weight"),
                        testing::read_tensor(file.get(), "fc_bias"));
  auto a = testing::read_tensor(file.get(), "features");
  for (CamMethod m : all_cam_methods()) {
    auto out = cam_maps(model, a, m);
    const auto name = cam_method_name(m);
    testing::expect_close(out.maps, testing::read_tensor(file.get(), name), name, 1e-7, 1e-4);
    testing::expect_close(out.logits, testing::read_tensor(file.get(), "logits"), "logits", 1e-7,
                          1e-5);
  }
  // The published make_grad: upsample to the image, then relu / min-max / floor / min-max.
  auto pp = cam_maps(model, a, CamMethod::kGradCamPP).maps;
  const double level = h5::read_attr_double(file.get(), "grad_min_level");
  auto published = published_cam_normalize(upsample_maps(pp, 16, 20), level);
  testing::expect_close(published, testing::read_tensor(file.get(), "gradcampp_published"),
                        "gradcampp_published", 1e-5, 1e-4);
}

}  // namespace
}  // namespace scouter
