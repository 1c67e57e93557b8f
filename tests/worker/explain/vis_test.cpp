#include "worker/explain/vis.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "common/files.h"
#include "test_util.h"
#include "worker/model/attention_maps.h"
#include "worker/toy_data.h"
#include "worker/train/trainer.h"

namespace scouter {
namespace {

using testing::TempDir;

// Width and height from a PNG's IHDR chunk.
std::pair<int, int> png_size(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char h[24] = {};
  f.read(reinterpret_cast<char*>(h), 24);
  EXPECT_EQ(h[1], 'P');
  auto be = [&](int o) { return (h[o] << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3]; };
  return {be(16), be(20)};
}

TEST(AttentionMaps, JointMinMaxTruncatesLikeNumpy) {
  // One image, two classes of 1x2 maps: min 1, max 5 over both classes.
  auto maps = torch::tensor({1.0f, 2.0f, 3.0f, 5.0f}).view({1, 2, 1, 2});
  auto u8 = normalized_maps_u8(maps);
  // (v - 1) / 4 * 255 = 0, 63.75, 127.5, 255 -> truncated.
  EXPECT_EQ(u8.flatten()[0].item<int>(), 0);
  EXPECT_EQ(u8.flatten()[1].item<int>(), 63);
  EXPECT_EQ(u8.flatten()[2].item<int>(), 127);
  EXPECT_EQ(u8.flatten()[3].item<int>(), 255);
  auto areas = area_sizes(u8, torch::tensor({int64_t{1}}));
  EXPECT_DOUBLE_EQ(areas[0].item<double>(), (127.0 + 255.0) / (2 * 255.0));
  // A constant image has no contrast: all zeros rather than NaN.
  auto flat = normalized_maps_u8(torch::ones({1, 2, 2, 2}));
  EXPECT_EQ(flat.sum().item<int64_t>(), 0);
}

TEST(Vis, WritesThePublishedPicturesForEachClass) {
  TempDir data, out;
  testing::write_toy_shards(data.path(), 256, 64);
  Config c = testing::toy_config(data.path(), out.file("run"));
  c.epochs = 1;
  c.img_size = 56;
  train_run(c);
  Config req;
  req.output_dir = c.output_dir;
  req.vis_id = 2;
  req.vis_count = 3;
  Origins set{{"vis_id", "--vis_id"}, {"vis_count", "--vis_count"}};
  auto records = run_vis(req, set);
  ASSERT_EQ(records.size(), 3u);
  for (const auto& r : records) {
    EXPECT_EQ(png_size(r.folder + "/image.png"), std::make_pair(56, 56));
    for (int k = 0; k < 4; ++k) {
      EXPECT_EQ(png_size(r.folder + "/slot_mask_" + std::to_string(k) + ".png"), std::make_pair(56, 56));
      // 56-px input through smallcnn: a 14 x 14 map.
      EXPECT_EQ(png_size(r.folder + "/slot_" + std::to_string(k) + ".png"), std::make_pair(14, 14));
    }
    EXPECT_GE(r.area, 0.0);
    EXPECT_LE(r.area, 1.0);
  }
  EXPECT_TRUE(file_exists(c.output_dir + "/vis/areas.jsonl"));
  req.vis_id = 1000;
  EXPECT_THROW(run_vis(req, set), UserError);
}

}  // namespace
}  // namespace scouter
