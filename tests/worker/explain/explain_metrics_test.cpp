#include "worker/explain/explain_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace scouter {
namespace {

std::vector<torch::Generator> generators(uint64_t seed, int64_t first, int64_t n) {
  std::vector<torch::Generator> g;
  for (int64_t i = 0; i < n; ++i) g.push_back(image_generator(seed, first + i));
  return g;
}

TEST(ExplainMetricsBox, PrecisionOfAHandMadeMap) {
  auto map = torch::arange(16, torch::kFloat32).view({4, 4});  // total 120
  // Rows 1-2, columns 1-2: 5 + 6 + 9 + 10 = 30.
  EXPECT_DOUBLE_EQ(box_precision(map, Box{1, 1, 2, 2}), 30.0 / 120.0);
  // The whole image.
  EXPECT_DOUBLE_EQ(box_precision(map, Box{0, 0, 4, 4}), 1.0);
  // Column 3, rows 0-3: 3 + 7 + 11 + 15 = 36; a box reaching past the image is clipped.
  EXPECT_DOUBLE_EQ(box_precision(map, Box{3, 0, 5, 9}), 36.0 / 120.0);
}

TEST(ExplainMetricsBox, PixelCentreRule) {
  // Column j is inside when j + 0.5 lies in [x, x + w).
  auto cols = [](double x, double w) {
    auto m = box_mask(Box{x, 0, w, 1}, 1, 4)[0];
    std::vector<int64_t> inside;
    for (int64_t j = 0; j < 4; ++j) {
      if (m[j].item<bool>()) inside.push_back(j);
    }
    return inside;
  };
  EXPECT_EQ(cols(0.5, 1.0), (std::vector<int64_t>{0}));     // 0.5 in, 1.5 out (half-open)
  EXPECT_EQ(cols(0.6, 1.0), (std::vector<int64_t>{1}));     // 0.5 out, 1.5 in
  EXPECT_EQ(cols(0.0, 0.5), (std::vector<int64_t>{}));      // no centre inside
  EXPECT_EQ(cols(1.0, 2.0), (std::vector<int64_t>{1, 2}));  // 1.5, 2.5 in; 3.5 out
  // Rows follow the same rule: y = 1.5, h = 1 holds the centre 1.5 only.
  auto m = box_mask(Box{0, 1.5, 4, 1}, 4, 4);
  EXPECT_EQ(m.sum().item<int64_t>(), 4);
  EXPECT_TRUE(m[1].all().item<bool>());
  // An empty box of a valid size holds no mass.
  EXPECT_DOUBLE_EQ(box_precision(torch::ones({4, 4}), Box{0, 0, 0.5, 0.5}), 0.0);
}

TEST(ExplainMetricsBox, NanForZeroMapOrInvalidBox) {
  EXPECT_TRUE(std::isnan(box_precision(torch::zeros({4, 4}), Box{0, 0, 2, 2})));
  EXPECT_TRUE(std::isnan(box_precision(torch::ones({4, 4}), Box{0, 0, 0, 2})));
  EXPECT_TRUE(std::isnan(box_precision(torch::ones({4, 4}), Box{0, 0, 2, -1})));
  EXPECT_EQ(box_mask(Box{}, 3, 3).sum().item<int64_t>(), 0);
}

TEST(ExplainMetricsBlur, KernelIsRisesScipyKernel) {
  // scipy.ndimage.gaussian_filter1d of a centred delta, length 11, sigma 5 (RISE's gkern).
  auto k = rise_kernel(11, 5.0);
  ASSERT_EQ(k.numel(), 11);
  const double expected[6] = {0.08795815, 0.08889612, 0.0904742,
                              0.09219112, 0.09348939, 0.09398206};
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(k[i].item<double>(), expected[i], 1e-8) << i;
    EXPECT_NEAR(k[10 - i].item<double>(), expected[i], 1e-8) << 10 - i;
  }
  EXPECT_NEAR(k.sum().item<double>(), 1.0, 1e-12);
  // A small sigma with little reflection: gaussian_filter1d(delta(5), 1) = these values.
  auto k5 = rise_kernel(5, 1.0);
  EXPECT_NEAR(k5[0].item<double>(), 0.05842299, 1e-8);
  EXPECT_NEAR(k5[1].item<double>(), 0.24210528, 1e-8);
  EXPECT_NEAR(k5[2].item<double>(), 0.39894347, 1e-8);
}

TEST(ExplainMetricsBlur, ConstantInteriorDarkerBorder) {
  auto blurred = rise_blur(torch::ones({1, 2, 16, 16}));
  ASSERT_EQ(blurred.sizes(), (std::vector<int64_t>{1, 2, 16, 16}));
  // Pixels at least klen / 2 = 5 from every border see the whole kernel, which sums to 1.
  auto interior = blurred.index(
      {0, torch::indexing::Slice(), torch::indexing::Slice(5, 11), torch::indexing::Slice(5, 11)});
  EXPECT_NEAR((interior - 1).abs().max().item<double>(), 0.0, 1e-6);
  // The corner sees the kernel's lower-right quarter; the rest falls on the zero padding.
  auto k = rise_kernel(11, 5.0);
  const double quarter = k.slice(0, 5).sum().item<double>();
  EXPECT_NEAR(blurred[0][1][0][0].item<double>(), quarter * quarter, 1e-6);
  EXPECT_LT(blurred[0][0][0][0].item<double>(), 0.4);
}

TEST(ExplainMetricsBlur, OnePixelAgainstALoop) {
  torch::manual_seed(3);
  auto x = torch::rand({1, 2, 9, 12});
  auto blurred = rise_blur(x);
  auto k = rise_kernel(11, 5.0);
  for (int64_t c : {0, 1}) {
    const int64_t i = 2, j = 7;
    double expected = 0;
    for (int64_t u = 0; u < 11; ++u) {
      for (int64_t v = 0; v < 11; ++v) {
        const int64_t r = i + u - 5, s = j + v - 5;
        if (r < 0 || r >= 9 || s < 0 || s >= 12) continue;
        expected += k[u].item<double>() * k[v].item<double>() * x[0][c][r][s].item<double>();
      }
    }
    EXPECT_NEAR(blurred[0][c][i][j].item<double>(), expected, 1e-6) << "channel " << c;
  }
}

// A 6 x 6 one-channel world whose "model" looks only at the region R = rows 2-3, columns 1-2
// (pixels 13, 14, 19, 20): p(class 0) = mean over R of clamp(x, 0, 1), p(class 1) = 1 - that.
constexpr int64_t kSide = 6;
const Box kRegionBox{1, 2, 2, 2};

torch::Tensor region_indicator() { return box_mask(kRegionBox, kSide, kSide).to(torch::kFloat32); }

struct RegionModel {
  int64_t calls = 0, largest_batch = 0;
  ProbFn fn() {
    return [this](const torch::Tensor& images) {
      ++calls;
      largest_batch = std::max(largest_batch, images.size(0));
      auto r = images.index({torch::indexing::Slice(), 0, torch::indexing::Slice(2, 4),
                             torch::indexing::Slice(1, 3)});
      auto p = r.clamp(0, 1).mean({1, 2});
      return torch::stack({p, 1 - p}, 1);
    };
  }
};

TEST(ExplainMetricsCausal, PrecisionOfTheRegionIsOne) {
  EXPECT_DOUBLE_EQ(box_precision(region_indicator(), kRegionBox), 1.0);
}

TEST(ExplainMetricsCausal, InsertionRisesWhenTheRegionIsInserted) {
  auto image = region_indicator().view({1, 1, kSide, kSide});  // 1 inside R, 0 outside
  auto saliency = region_indicator().view({1, kSide, kSide});  // ties: pixel order 13, 14, 19, 20
  auto blurred = rise_blur(image)[0][0];
  RegionModel model;
  CausalOptions opt;
  opt.step_pixels = 2;
  auto curves = causal_curves(model.fn(), image, saliency, torch::tensor({int64_t{0}}),
                              CausalMode::kInsertion, opt);
  ASSERT_EQ(curves.size(), 1u);
  const auto& p = curves[0].probs;
  ASSERT_EQ(p.size(), 19u);  // n_steps = 36 / 2 = 18
  // Step 0: all of R blurred. Step 1: row 2 of R (pixels 13, 14) is back at 1. Step 2 on: all.
  const double r0 = (blurred[2][1] + blurred[2][2] + blurred[3][1] + blurred[3][2]).item<double>();
  EXPECT_NEAR(p[0], r0 / 4, 1e-6);
  EXPECT_GT(p[0], 0.0);  // the blur spreads R a little
  EXPECT_LT(p[0], 0.1);
  EXPECT_NEAR(p[1], (2 + (blurred[3][1] + blurred[3][2]).item<double>()) / 4, 1e-6);
  for (size_t k = 2; k < p.size(); ++k) EXPECT_DOUBLE_EQ(p[k], 1.0) << "step " << k;
  double sum = 0;
  for (double v : p) sum += v;
  EXPECT_NEAR(curves[0].auc, (sum - p.front() / 2 - p.back() / 2) / 18, 1e-12);
}

TEST(ExplainMetricsCausal, DeletionDropsWhenTheRegionIsRemoved) {
  auto image = region_indicator().view({1, 1, kSide, kSide});
  // Ranked first by a ramp that puts R's pixels 20, 19 ahead of 14, 13, then the rest.
  auto ramp = torch::arange(kSide * kSide, torch::kFloat32).view({kSide, kSide}) * 1e-3;
  auto saliency = (region_indicator() * 10 + ramp).view({1, kSide, kSide});
  RegionModel model;
  CausalOptions opt;
  opt.step_pixels = 1;
  auto curves = causal_curves(model.fn(), image, saliency, torch::tensor({int64_t{0}}),
                              CausalMode::kDeletion, opt);
  const auto& p = curves[0].probs;
  ASSERT_EQ(p.size(), 37u);
  EXPECT_DOUBLE_EQ(p[0], 1.0);
  EXPECT_DOUBLE_EQ(p[1], 0.75);
  EXPECT_DOUBLE_EQ(p[2], 0.5);
  EXPECT_DOUBLE_EQ(p[3], 0.25);
  for (size_t k = 4; k < p.size(); ++k) EXPECT_DOUBLE_EQ(p[k], 0.0) << "step " << k;
  // Trapezoid by hand: (1 + 0.75 + 0.5 + 0.25 - 1/2 - 0/2) / 36.
  EXPECT_NEAR(curves[0].auc, 2.0 / 36.0, 1e-12);
}

TEST(ExplainMetricsCausal, TiesGoToTheLowerPixelIndexFirst) {
  // R's pixels 13, 14, 19, 20 hold 0.1, 0.2, 0.3, 0.4 and tie in saliency (all 1, the rest 0).
  auto image = torch::zeros({1, 1, kSide, kSide});
  image[0][0][2][1] = 0.1;
  image[0][0][2][2] = 0.2;
  image[0][0][3][1] = 0.3;
  image[0][0][3][2] = 0.4;
  RegionModel model;
  CausalOptions opt;
  opt.step_pixels = 1;
  auto p = causal_curves(model.fn(), image, region_indicator().view({1, kSide, kSide}),
                         torch::tensor({int64_t{0}}), CausalMode::kDeletion, opt)[0]
               .probs;
  // Removed in the order 13, 14, 19, 20: the mean over R falls by 0.1 / 4, 0.2 / 4, ...
  const double expected[5] = {1.0 / 4, 0.9 / 4, 0.7 / 4, 0.4 / 4, 0.0};
  for (int k = 0; k < 5; ++k) EXPECT_NEAR(p[k], expected[k], 1e-7) << "step " << k;
}

TEST(ExplainMetricsCausal, StepCountsAndDefaultStep) {
  auto image = torch::rand({1, 1, kSide, kSide});
  auto saliency = torch::rand({1, kSide, kSide});
  RegionModel model;
  auto targets = torch::tensor({int64_t{1}});
  CausalOptions opt;  // step_pixels 0: one image row per step
  EXPECT_EQ(causal_curves(model.fn(), image, saliency, targets, CausalMode::kDeletion, opt)[0]
                .probs.size(),
            7u);
  opt.step_pixels = 5;  // ceil(36 / 5) = 8 steps
  auto c = causal_curves(model.fn(), image, saliency, targets, CausalMode::kInsertion, opt)[0];
  EXPECT_EQ(c.probs.size(), 9u);
  // The last step has inserted every pixel: the model sees the image itself.
  auto full = model.fn()(image)[0][1].item<double>();
  EXPECT_NEAR(c.probs.back(), full, 1e-7);
}

TEST(ExplainMetricsCausal, BatchingDoesNotChangeTheCurves) {
  torch::manual_seed(11);
  const int64_t n = 3;
  auto images = torch::rand({n, 2, kSide, kSide});
  auto saliency = torch::rand({n, kSide, kSide});
  auto targets = torch::tensor({int64_t{0}, int64_t{2}, int64_t{1}});
  auto weights = torch::randn({3, 2, kSide, kSide});
  int64_t largest = 0;
  ProbFn prob = [&](const torch::Tensor& x) {
    largest = std::max(largest, x.size(0));
    auto logits = (x.unsqueeze(1) * weights.unsqueeze(0)).sum({2, 3, 4});
    return torch::softmax(logits, 1);
  };
  for (auto mode : {CausalMode::kInsertion, CausalMode::kDeletion}) {
    std::vector<std::vector<CausalCurve>> runs;
    for (int64_t bs : {1, 3, 64}) {
      CausalOptions opt;
      opt.step_pixels = 4;  // 9 steps, 10 images per curve, 30 in all
      opt.batch_size = bs;
      largest = 0;
      runs.push_back(causal_curves(prob, images, saliency, targets, mode, opt));
      EXPECT_EQ(largest, std::min<int64_t>(bs, 30));
    }
    for (size_t r = 1; r < runs.size(); ++r) {
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(runs[r][i].probs.size(), 10u);
        for (size_t k = 0; k < 10; ++k) {
          EXPECT_NEAR(runs[r][i].probs[k], runs[0][i].probs[k], 1e-7) << i << " step " << k;
        }
        EXPECT_NEAR(runs[r][i].auc, runs[0][i].auc, 1e-7);
      }
    }
  }
}

// p_0(x) = sum(w * x): infidelity only needs a function of the image, not a softmax.
struct LinearModel {
  torch::Tensor w;  // 1 x H x W
  ProbFn fn() const {
    return [w = w](const torch::Tensor& x) {
      auto p = (x * w).sum({1, 2, 3});
      return torch::stack({p, torch::zeros_like(p)}, 1);
    };
  }
};

TEST(ExplainMetricsInfidelity, ZeroForTheExactLinearAttribution) {
  torch::manual_seed(5);
  const int64_t n = 2, side = 8;
  LinearModel model{torch::rand({1, side, side})};
  auto images = torch::rand({n, 1, side, side});
  auto targets = torch::zeros({n}, torch::kInt64);
  PerturbOptions opt;
  opt.samples = 20;
  auto exact = model.w.expand({n, side, side});
  auto g = generators(7, 0, n);
  auto right = infidelity(model.fn(), images, exact, targets, g, opt);
  // normalize = True: any positive multiple of the exact attribution is just as faithful.
  g = generators(7, 0, n);
  auto scaled = infidelity(model.fn(), images, exact * 3, targets, g, opt);
  g = generators(7, 0, n);
  auto wrong = infidelity(model.fn(), images, torch::rand({n, side, side}), targets, g, opt);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_LT(right[i], 1e-9) << i;
    EXPECT_LT(scaled[i], 1e-9) << i;
    EXPECT_GT(wrong[i], 1e-4) << i;
  }
}

TEST(ExplainMetricsInfidelity, SameSeedSameValueWhateverTheBatching) {
  torch::manual_seed(6);
  const int64_t n = 3, side = 5;
  LinearModel model{torch::rand({1, side, side})};
  auto images = torch::rand({n, 1, side, side});
  auto saliency = torch::rand({n, side, side});
  auto targets = torch::zeros({n}, torch::kInt64);
  PerturbOptions opt;
  opt.samples = 10;
  std::vector<std::vector<double>> runs;
  for (int64_t bs : {1, 7, 64}) {
    opt.batch_size = bs;
    auto g = generators(42, 0, n);
    runs.push_back(infidelity(model.fn(), images, saliency, targets, g, opt));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(runs[r][i], runs[0][i], 1e-9 * (1 + runs[0][i]));
  }
  // Image 1 alone, with its own generator (seed, index 1), as on another rank.
  auto g1 = generators(42, 1, 1);
  auto alone = infidelity(model.fn(), images.slice(0, 1, 2), saliency.slice(0, 1, 2),
                          targets.slice(0, 1, 2), g1, opt);
  EXPECT_NEAR(alone[0], runs[0][1], 1e-9 * (1 + runs[0][1]));
  // Another seed draws other perturbations.
  auto g2 = generators(43, 0, n);
  auto other = infidelity(model.fn(), images, saliency, targets, g2, opt);
  EXPECT_NE(other[0], runs[0][0]);
}

TEST(ExplainMetricsSensitivity, ZeroForAnExplanationThatIgnoresTheImage) {
  const int64_t n = 2, side = 4;
  auto images = torch::rand({n, 3, side, side});
  auto fixed = torch::rand({n, side, side});
  SaliencyFn explain = [&](const torch::Tensor& x, const torch::Tensor& t) {
    return fixed.index_select(0, t);  // the target is the image's index here
  };
  auto g = generators(1, 0, n);
  PerturbOptions opt;
  opt.samples = 5;
  auto s = sensitivity_max(explain, images, fixed, torch::tensor({int64_t{0}, int64_t{1}}), g, opt);
  EXPECT_DOUBLE_EQ(s[0], 0.0);
  EXPECT_DOUBLE_EQ(s[1], 0.0);
}

TEST(ExplainMetricsSensitivity, IdentityExplanationIsBoundedByTheRadius) {
  torch::manual_seed(8);
  const int64_t n = 3, side = 6;
  auto images = torch::rand({n, 1, side, side}) + 0.5;
  auto saliency = images.squeeze(1);
  auto targets = torch::zeros({n}, torch::kInt64);
  int64_t largest = 0;
  SaliencyFn explain = [&](const torch::Tensor& x, const torch::Tensor&) {
    largest = std::max(largest, x.size(0));
    return x.squeeze(1);  // s(x + u) - s(x) = u
  };
  PerturbOptions opt;
  opt.samples = 8;
  opt.radius = 0.2;
  std::vector<std::vector<double>> runs;
  for (int64_t bs : {1, 5, 64}) {
    opt.batch_size = bs;
    largest = 0;
    auto g = generators(9, 0, n);
    runs.push_back(sensitivity_max(explain, images, saliency, targets, g, opt));
    EXPECT_EQ(largest, std::min<int64_t>(bs, n * opt.samples));
  }
  for (int64_t i = 0; i < n; ++i) {
    const double bound = opt.radius * side / saliency[i].norm().item<double>();  // sqrt(36) = 6
    EXPECT_GT(runs[0][i], 0.0);
    EXPECT_LE(runs[0][i], bound * (1 + 1e-6));
    // Uniform draws: the largest of 8 norms is well above the mean norm radius / sqrt(3).
    EXPECT_GT(runs[0][i], 0.5 * bound / std::sqrt(3.0));
    for (size_t r = 1; r < runs.size(); ++r) EXPECT_NEAR(runs[r][i], runs[0][i], 1e-9);
  }
  auto g = generators(10, 0, n);
  EXPECT_NE(sensitivity_max(explain, images, saliency, targets, g, opt)[0], runs[0][0]);
}

TEST(ExplainMetricsGenerator, SeedAndIndexFixTheDraws) {
  auto a = torch::randn({5}, image_generator(1, 3));
  auto b = torch::randn({5}, image_generator(1, 3));
  auto c = torch::randn({5}, image_generator(1, 4));
  auto d = torch::randn({5}, image_generator(2, 3));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_FALSE(torch::equal(a, d));
}

}  // namespace
}  // namespace scouter
