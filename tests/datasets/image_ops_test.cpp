// image_ops against references from PIL and matplotlib (tests/fixtures/image_ops.h5, written by
// tests/tools/make_image_fixtures.py), plus properties of the augmentation.
#include "datasets/image_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "test_util.h"

namespace scouter {
namespace {

const char* kCases[] = {"up_rgb",     "down_gray",   "down_rgb", "mixed_gray",
                        "width_only", "height_only", "mnist_up"};

class ImageOpsFixture : public ::testing::Test {
 protected:
  void SetUp() override { file_ = h5::open_file(testing::fixtures_dir() + "/image_ops.h5"); }
  h5::Handle file_;
};

struct Case {
  std::vector<hsize_t> in_dims, out_dims;
  std::vector<uint8_t> input, expected_u8;
  std::vector<float> expected_float;
};

Case load_case(hid_t f, const std::string& name) {
  std::string g = "resize/" + name + "/";
  Case c;
  c.in_dims = h5::dataset_info(f, g + "input").dims;
  c.out_dims = h5::dataset_info(f, g + "u8").dims;
  c.input = h5::read<uint8_t>(f, g + "input");
  c.expected_u8 = h5::read<uint8_t>(f, g + "u8");
  c.expected_float = h5::read<float>(f, g + "float");
  return c;
}

TEST_F(ImageOpsFixture, ResizeU8MatchesPilExactly) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    Case c = load_case(file_.get(), name);
    std::vector<uint8_t> out(c.expected_u8.size());
    resize_bilinear_u8(c.input.data(), static_cast<int>(c.in_dims[0]),
                       static_cast<int>(c.in_dims[1]), static_cast<int>(c.in_dims[2]), out.data(),
                       static_cast<int>(c.out_dims[1]), static_cast<int>(c.out_dims[2]));
    int mismatches = 0;
    for (size_t i = 0; i < out.size(); ++i) mismatches += out[i] != c.expected_u8[i];
    EXPECT_EQ(mismatches, 0);
  }
}

TEST_F(ImageOpsFixture, ResizeFloatMatchesPilModeF) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    Case c = load_case(file_.get(), name);
    int ch = static_cast<int>(c.in_dims[0]), h = static_cast<int>(c.in_dims[1]),
        w = static_cast<int>(c.in_dims[2]);
    int oh = static_cast<int>(c.out_dims[1]), ow = static_cast<int>(c.out_dims[2]);
    std::vector<float> from_u8(c.expected_float.size()), from_float(c.expected_float.size());
    resize_bilinear(c.input.data(), ch, h, w, from_u8.data(), oh, ow);
    std::vector<float> input_f(c.input.begin(), c.input.end());
    resize_bilinear(input_f.data(), ch, h, w, from_float.data(), oh, ow);
    double worst = 0;
    for (size_t i = 0; i < from_u8.size(); ++i) {
      worst = std::max(worst, std::fabs(double(from_u8[i]) - c.expected_float[i]));
      worst = std::max(worst, std::fabs(double(from_float[i]) - c.expected_float[i]));
    }
    EXPECT_LE(worst, 1e-4);
  }
}

TEST(ImageOps, ResizeToSameSizeIsIdentity) {
  std::vector<uint8_t> img(2 * 4 * 5);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 13 % 256);
  std::vector<uint8_t> out(img.size());
  resize_bilinear_u8(img.data(), 2, 4, 5, out.data(), 4, 5);
  EXPECT_EQ(out, img);
  std::vector<float> outf(img.size());
  resize_bilinear(img.data(), 2, 4, 5, outf.data(), 4, 5);
  for (size_t i = 0; i < img.size(); ++i) EXPECT_EQ(outf[i], img[i]);
}

TEST_F(ImageOpsFixture, JetMatchesMatplotlib) {
  std::vector<double> expected = h5::read<double>(file_.get(), "jet");
  const std::vector<float>& lut = jet_lut();
  ASSERT_EQ(lut.size(), expected.size());
  for (size_t i = 0; i < lut.size(); ++i) EXPECT_NEAR(lut[i], expected[i], 1e-6) << "entry " << i;
}

TEST_F(ImageOpsFixture, OverlayMatchesPublishedPilCompositeExactly) {
  auto dims = h5::dataset_info(file_.get(), "overlay/map").dims;
  int h = static_cast<int>(dims[0]), w = static_cast<int>(dims[1]);
  auto rgb = h5::read<uint8_t>(file_.get(), "overlay/rgb");
  auto map = h5::read<uint8_t>(file_.get(), "overlay/map");
  auto expected = h5::read<uint8_t>(file_.get(), "overlay/expected_rgba");
  std::vector<uint8_t> out = overlay_jet(rgb.data(), map.data(), h, w, 0.4);
  ASSERT_EQ(out.size(), static_cast<size_t>(h * w * 3));
  int mismatches = 0;
  for (int i = 0; i < h * w; ++i) {
    ASSERT_EQ(expected[i * 4 + 3], 255);  // the published result is opaque
    for (int c = 0; c < 3; ++c) mismatches += out[i * 3 + c] != expected[i * 4 + c];
  }
  EXPECT_EQ(mismatches, 0);
}

std::vector<float> test_image(int c, int h, int w) {
  std::vector<float> img(static_cast<size_t>(c) * h * w);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<float>((i * 37) % 251);
  return img;
}

TEST(ImageOpsAugment, SameSeedSameResultDifferentSeedsDiffer) {
  const int c = 3, h = 16, w = 20;
  std::vector<float> base = test_image(c, h, w);
  int differing = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    AugmentParams a = draw_augment(seed, true), b = draw_augment(seed, true);
    EXPECT_EQ(a.rotate_deg, b.rotate_deg);
    EXPECT_EQ(a.translate_y, b.translate_y);
    std::vector<float> x = base, y = base;
    apply_augment(a, x.data(), c, h, w);
    apply_augment(b, y.data(), c, h, w);
    EXPECT_EQ(x, y) << "seed " << seed;
    AugmentParams other = draw_augment(seed + 1000, true);
    std::vector<float> z = base;
    apply_augment(other, z.data(), c, h, w);
    differing += z != x;
  }
  EXPECT_GE(differing, 15);
}

TEST(ImageOpsAugment, ParametersStayInTheirRangesAndEachPartIsSometimesOff) {
  int rotated = 0, scaled = 0, translated = 0, flipped_h = 0, flipped_v = 0;
  const int n = 2000;
  for (uint64_t seed = 0; seed < n; ++seed) {
    AugmentParams p = draw_augment(seed * 7919 + 1, true);
    EXPECT_GE(p.rotate_deg, -10.0);
    EXPECT_LE(p.rotate_deg, 10.0);
    EXPECT_GE(p.scale_x, 0.8);
    EXPECT_LE(p.scale_x, 1.0);
    EXPECT_GE(p.scale_y, 0.8);
    EXPECT_LE(p.scale_y, 1.0);
    EXPECT_GE(p.translate_x, 0.0);
    EXPECT_LE(p.translate_x, 0.1);
    EXPECT_GE(p.translate_y, -0.1);
    EXPECT_LE(p.translate_y, 0.1);
    rotated += p.rotate_deg != 0;
    scaled += p.scale_x != 1;
    translated += p.translate_x != 0;
    flipped_h += p.flip_h;
    flipped_v += p.flip_v;
    EXPECT_EQ(p.affine, p.rotate_deg != 0 || p.scale_x != 1 || p.translate_x != 0);
  }
  for (int count : {rotated, scaled, translated, flipped_h, flipped_v}) {
    EXPECT_GT(count, n * 0.4);
    EXPECT_LT(count, n * 0.6);
  }
}

TEST(ImageOpsAugment, FlipsNeverDrawnWhenNotAllowed) {
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    AugmentParams p = draw_augment(seed, false);
    EXPECT_FALSE(p.flip_h);
    EXPECT_FALSE(p.flip_v);
  }
}

TEST(ImageOpsAugment, IdentityParametersLeaveImageUnchanged) {
  const int c = 2, h = 9, w = 12;
  std::vector<float> img = test_image(c, h, w), out = img;
  AugmentParams p;
  p.affine = true;  // take the sampling path with identity values
  apply_augment(p, out.data(), c, h, w);
  EXPECT_EQ(out, img);
}

TEST(ImageOpsAugment, FlipTwiceIsIdentityAndFlipMirrors) {
  const int c = 2, h = 5, w = 7;
  std::vector<float> img = test_image(c, h, w), out = img;
  AugmentParams p;
  p.flip_h = true;
  apply_augment(p, out.data(), c, h, w);
  EXPECT_EQ(out[0 * w + 0], img[0 * w + (w - 1)]);
  EXPECT_EQ(out[(h * w) + 2 * w + 1], img[(h * w) + 2 * w + (w - 2)]);
  apply_augment(p, out.data(), c, h, w);
  EXPECT_EQ(out, img);
  p.flip_h = false;
  p.flip_v = true;
  apply_augment(p, out.data(), c, h, w);
  EXPECT_EQ(out[1 * w + 3], img[(h - 2) * w + 3]);
  apply_augment(p, out.data(), c, h, w);
  EXPECT_EQ(out, img);
}

TEST(ImageOpsAugment, TranslationShiftsByWholePixelsAndFillsZeros) {
  const int h = 10, w = 10;
  std::vector<float> img = test_image(1, h, w), out = img;
  AugmentParams p;
  p.affine = true;
  p.translate_x = 0.2;   // 2 pixels right
  p.translate_y = -0.1;  // 1 pixel up
  apply_augment(p, out.data(), 1, h, w);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      int sx = x - 2, sy = y + 1;
      float expected = (sx < 0 || sy >= h) ? 0.f : img[sy * w + sx];
      EXPECT_NEAR(out[y * w + x], expected, 1e-4) << x << "," << y;
    }
  }
}

TEST(ImageOpsAugment, RotationIsAboutTheCentre) {
  // A 90-degree turn of a square maps the centre-symmetric grid onto itself exactly.
  const int n = 6;
  std::vector<float> img = test_image(1, n, n), out = img;
  AugmentParams p;
  p.affine = true;
  p.rotate_deg = 90;
  apply_augment(p, out.data(), 1, n, n);
  // Counter-clockwise as displayed: the top row's right end moves to the left column's top.
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) EXPECT_NEAR(out[y * n + x], img[x * n + (n - 1 - y)], 1e-3);
}

TEST(ImageOpsPng, WritesAFileAndFailsWithAUserError) {
  testing::TempDir dir;
  std::vector<uint8_t> px(4 * 3 * 3, 200);
  std::string path = dir.file("a.png");
  write_png(path, px.data(), 4, 3, 3);
  std::ifstream in(path, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  EXPECT_THROW(write_png(dir.file("missing/dir/b.png"), px.data(), 4, 3, 3), UserError);
  EXPECT_FALSE(file_exists(dir.file("missing/dir/b.png")));
}

}  // namespace
}  // namespace scouter
