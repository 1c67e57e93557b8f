// The GPU input path (worker/train/device_input.h) on CPU tensors against the CPU path (PIL-exact
// resize through uint8, datasets/image_ops.h): the same resize bit for bit, the same augmented
// pixels within 0.01 of a grey level.
#include "worker/train/device_input.h"

#include <gtest/gtest.h>

#include <random>

#include "common/files.h"
#include "datasets/batch_loader.h"
#include "datasets/image_ops.h"
#include "datasets/shard_reader.h"
#include "test_util.h"
#include "worker/toy_data.h"

namespace scouter {
namespace {

using testing::TempDir;

std::vector<uint8_t> random_image(int c, int h, int w, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> px(static_cast<size_t>(c) * h * w);
  // Smooth structure plus noise, so both flat areas and edges are resampled.
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        px[(static_cast<size_t>(ch) * h + y) * w + x] =
            static_cast<uint8_t>(std::clamp(128 + 90 * std::sin(0.3 * x + 0.2 * y + ch) +
                                                static_cast<int>(rng() % 41) - 20.0, 0.0, 255.0));
  return px;
}

struct Diff {
  double max = 0;
  double fraction = 0;  // of pixels that differ at all
};

Diff compare(const torch::Tensor& ours, const std::vector<float>& cpu) {
  auto ref = torch::from_blob(const_cast<float*>(cpu.data()), {static_cast<int64_t>(cpu.size())}, torch::kFloat);
  auto d = (ours.flatten().to(torch::kDouble) - ref.to(torch::kDouble)).abs();
  return {d.max().item<double>(), (d > 0).to(torch::kDouble).mean().item<double>()};
}

// Up (28 -> 260, 28 -> 56 x 40) and down (300 x 200 -> 260, 97 -> 31): PIL's 8-bit result
// exactly. (A float32 bilinear filter would round about 2% of the pixels of a 2x upscale the other
// way: exact ties at x.5 are frequent there, and PIL breaks them in integer arithmetic.)
TEST(DeviceInput, ResizeIsPilExactly) {
  struct Case { int c, h, w, oh, ow; };
  for (const Case& k : {Case{1, 28, 28, 260, 260}, Case{3, 28, 28, 56, 40}, Case{3, 200, 300, 260, 260},
                        Case{1, 97, 97, 31, 31}}) {
    auto px = random_image(k.c, k.h, k.w, static_cast<uint32_t>(k.h * 7 + k.w));
    std::vector<uint8_t> pil(static_cast<size_t>(k.c) * k.oh * k.ow);
    resize_bilinear_u8(px.data(), k.c, k.h, k.w, pil.data(), k.oh, k.ow);
    auto ours = resize_like_pil(torch::from_blob(px.data(), {1, k.c, k.h, k.w}, torch::kUInt8), k.oh, k.ow);
    EXPECT_TRUE(torch::equal(ours, ours.round())) << "not whole levels";
    Diff d = compare(ours, std::vector<float>(pil.begin(), pil.end()));
    std::cout << "[ resize   ] " << k.h << "x" << k.w << " -> " << k.oh << "x" << k.ow
              << ": max " << d.max << " level, " << d.fraction * 100 << "% of pixels differ\n";
    EXPECT_EQ(d.max, 0.0);
  }
}

// Flips and the affine jitter: float32 grid sampling against image_ops.cpp's float64 one; the
// bilinear weights differ by float32 rounding of the source position (~1e-5 px), so values agree
// to 0.01 of a level (measured 0.0015).
TEST(DeviceInput, AugmentationIsTheCpuPaths) {
  const int c = 3, h = 40, w = 52;
  std::vector<AugmentParams> params;
  std::vector<float> cpu;
  std::vector<float> batch;
  for (uint64_t s = 0; s < 24; ++s) {
    AugmentParams p = draw_augment(s * 977 + 5, /*flip_allowed=*/true);
    params.push_back(p);
    auto px = random_image(c, h, w, static_cast<uint32_t>(s));
    std::vector<float> img(px.begin(), px.end());
    batch.insert(batch.end(), img.begin(), img.end());
    apply_augment(p, img.data(), c, h, w);
    cpu.insert(cpu.end(), img.begin(), img.end());
  }
  int affine = 0, flips = 0;
  for (const auto& p : params) {
    affine += p.affine;
    flips += p.flip_h + p.flip_v;
  }
  ASSERT_GT(affine, 5);
  ASSERT_GT(flips, 5);
  auto t = torch::from_blob(batch.data(), {24, c, h, w}, torch::kFloat).clone();
  Diff d = compare(augment_rows(t, params), cpu);
  std::cout << "[ augment  ] max " << d.max << " level\n";
  EXPECT_LE(d.max, 0.01);
}

// A whole raw batch through DeviceInput against the loader's float batch of the same rows:
// without augmentation identical, with it within 0.01 of a level (times 1 / (255 std)); labels equal.
TEST(DeviceInput, RawBatchesMatchTheLoadersFloatBatches) {
  TempDir dir;
  testing::write_toy_shards(dir.path(), 128, 32);
  auto shards = ShardSet::open(dir.path(), "train");
  for (bool aug : {false, true}) {
    LoaderOptions o;
    o.batch_size = 16;
    o.img_size = 60;
    o.aug = aug;
    o.seed = 3;
    BatchLoader cpu(shards, o);
    o.raw = true;
    BatchLoader raw(shards, o);
    std::vector<int64_t> rows = {0, 5, 9, 17, 31, 64, 100, 127};
    Batch fb = cpu.make_batch(rows, 2, aug);
    Batch rb = raw.make_raw_batch(rows, 2, aug);
    EXPECT_EQ(rb.augment.size(), aug ? rows.size() : 0u);
    DeviceInput input(shards->meta(), 60, 60, torch::kCPU, false);
    DeviceInput::Prepared p = input.prepare(std::move(rb));
    EXPECT_EQ(p.images.sizes(), (std::vector<int64_t>{8, 1, 60, 60}));
    EXPECT_TRUE(torch::equal(p.labels, torch::tensor(fb.labels)));
    const double level = 1.0 / (255.0 * shards->meta().std[0]);
    Diff d = compare(p.images, fb.images);
    std::cout << "[ batch    ] aug " << aug << ": max " << d.max / level << " level, "
              << d.fraction * 100 << "% of values differ\n";
    EXPECT_LE(d.max, (aug ? 0.01 : 0.0) * level);
    // channels_last output holds the same values.
    DeviceInput cl(shards->meta(), 60, 60, torch::kCPU, true);
    Batch rb2 = raw.make_raw_batch(rows, 2, aug);
    auto p2 = cl.prepare(std::move(rb2));
    EXPECT_TRUE(p2.images.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(torch::equal(p2.images, p.images));
  }
}

}  // namespace
}  // namespace scouter
