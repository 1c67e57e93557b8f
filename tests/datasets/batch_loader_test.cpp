// BatchLoader over a small written split: order, coverage, drop_last, resuming, normalisation,
// resize, augmentation, shutdown and error propagation.
#include "datasets/batch_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "common/error.h"
#include "datasets/image_ops.h"
#include "datasets/shard_damage.h"
#include "datasets/shard_writer.h"
#include "test_util.h"

namespace scouter {
namespace {

constexpr int64_t kC = 2, kH = 4, kW = 5, kN = 23;

class BatchLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ShardMeta m;
    m.dataset = "CUB200";
    m.split = "train";
    m.channels = kC;
    m.height = kH;
    m.width = kW;
    m.num_classes = 4;
    m.class_names = {"a", "b", "c", "d"};
    m.mean = {0.25, 0.5};
    m.std = {0.5, 0.2};
    images_.resize(kN * kC * kH * kW);
    for (size_t i = 0; i < images_.size(); ++i)
      images_[i] = static_cast<uint8_t>((i * 53 + 11) % 256);
    for (int64_t i = 0; i < kN; ++i) labels_.push_back(i % 4);
    paths_ = write_split(dir_.path(), m, kN, images_.data(), labels_.data(), nullptr, 10);
    shards_ = ShardSet::open(dir_.path(), "train");
  }

  LoaderOptions options(int64_t batch, bool shuffle, bool drop_last) const {
    LoaderOptions o;
    o.batch_size = batch;
    o.shuffle = shuffle;
    o.drop_last = drop_last;
    o.seed = 1234;
    return o;
  }

  static std::vector<Batch> all_batches(BatchLoader& loader, int64_t epoch, int64_t skip = 0) {
    loader.start_epoch(epoch, skip);
    std::vector<Batch> out;
    while (auto b = loader.next()) out.push_back(std::move(*b));
    return out;
  }

  static std::vector<int64_t> served(const std::vector<Batch>& batches) {
    std::vector<int64_t> v;
    for (const auto& b : batches) v.insert(v.end(), b.indices.begin(), b.indices.end());
    return v;
  }

  testing::TempDir dir_;
  std::vector<uint8_t> images_;
  std::vector<int64_t> labels_;
  std::vector<std::string> paths_;
  std::shared_ptr<ShardSet> shards_;
};

TEST(BatchLoaderMixSeed, DependsOnBothArgumentsAndTheirOrder) {
  std::set<uint64_t> seen;
  for (uint64_t a = 0; a < 30; ++a)
    for (uint64_t b = 0; b < 30; ++b) seen.insert(mix_seed(a, b));
  EXPECT_EQ(seen.size(), 900u);
  EXPECT_NE(mix_seed(1, 2), mix_seed(2, 1));
  EXPECT_EQ(mix_seed(7, 9), mix_seed(7, 9));
}

TEST_F(BatchLoaderTest, NoShuffleServesEverySampleInOrder) {
  BatchLoader loader(shards_, options(5, false, false));
  EXPECT_EQ(loader.batches_per_epoch(), 5);
  auto batches = all_batches(loader, 0);
  ASSERT_EQ(batches.size(), 5u);
  std::vector<int64_t> expected(kN);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(served(batches), expected);
  EXPECT_EQ(batches.back().size, 3);  // 23 = 4 * 5 + 3
  for (const auto& b : batches)
    for (int64_t r = 0; r < b.size; ++r) EXPECT_EQ(b.labels[r], labels_[b.indices[r]]);
}

TEST_F(BatchLoaderTest, ShuffleServesEverySampleOncePerEpochInSeededOrder) {
  BatchLoader loader(shards_, options(4, true, false));
  auto e0 = served(all_batches(loader, 0));
  auto e1 = served(all_batches(loader, 1));
  auto sorted0 = e0, sorted1 = e1;
  std::sort(sorted0.begin(), sorted0.end());
  std::sort(sorted1.begin(), sorted1.end());
  std::vector<int64_t> expected(kN);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(sorted0, expected);
  EXPECT_EQ(sorted1, expected);
  EXPECT_NE(e0, e1);
  EXPECT_NE(e0, expected);

  BatchLoader again(shards_, options(4, true, false));
  EXPECT_EQ(served(all_batches(again, 1)), e1);
  EXPECT_EQ(served(all_batches(again, 0)), e0);
  LoaderOptions other_seed = options(4, true, false);
  other_seed.seed = 99;
  BatchLoader other(shards_, other_seed);
  EXPECT_NE(served(all_batches(other, 0)), e0);
}

TEST_F(BatchLoaderTest, DropLastServesOnlyFullBatches) {
  BatchLoader loader(shards_, options(5, true, true));
  EXPECT_EQ(loader.batches_per_epoch(), 4);
  auto batches = all_batches(loader, 3);
  ASSERT_EQ(batches.size(), 4u);
  std::set<int64_t> distinct;
  for (const auto& b : batches) {
    EXPECT_EQ(b.size, 5);
    distinct.insert(b.indices.begin(), b.indices.end());
  }
  EXPECT_EQ(distinct.size(), 20u);
}

TEST_F(BatchLoaderTest, SkipBatchesResumesWithTheSameBatches) {
  LoaderOptions o = options(3, true, true);
  o.aug = true;
  BatchLoader loader(shards_, o);
  auto full = all_batches(loader, 5);
  auto resumed = all_batches(loader, 5, 4);
  ASSERT_EQ(resumed.size(), full.size() - 4);
  for (size_t i = 0; i < resumed.size(); ++i) {
    EXPECT_EQ(resumed[i].indices, full[i + 4].indices);
    EXPECT_EQ(resumed[i].images, full[i + 4].images);
  }
  EXPECT_TRUE(all_batches(loader, 5, 100).empty());
}

TEST_F(BatchLoaderTest, NormalisesWithTheShardStatistics) {
  BatchLoader loader(shards_, options(23, false, false));
  auto batches = all_batches(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  const Batch& b = batches[0];
  EXPECT_EQ(b.channels, kC);
  EXPECT_EQ(b.height, kH);
  EXPECT_EQ(b.width, kW);
  const double mean[] = {0.25, 0.5}, stddev[] = {0.5, 0.2};
  for (int64_t i = 0; i < kN; ++i)
    for (int64_t c = 0; c < kC; ++c)
      for (int64_t p = 0; p < kH * kW; ++p) {
        size_t at = static_cast<size_t>((i * kC + c) * kH * kW + p);
        double expected = (images_[at] / 255.0 - mean[c]) / stddev[c];
        ASSERT_NEAR(b.images[at], expected, 1e-5) << i << " " << c << " " << p;
      }
}

TEST_F(BatchLoaderTest, ResizesToImgSize) {
  LoaderOptions o = options(2, false, false);
  o.img_size = 9;
  o.indices = {7, 21};
  BatchLoader loader(shards_, o);
  EXPECT_EQ(loader.num_samples(), 2);
  EXPECT_EQ(loader.out_height(), 9);
  EXPECT_EQ(loader.out_width(), 9);
  auto batches = all_batches(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  const Batch& b = batches[0];
  EXPECT_EQ(b.height, 9);
  EXPECT_EQ(b.width, 9);
  ASSERT_EQ(b.images.size(), static_cast<size_t>(2 * kC * 81));
  EXPECT_EQ(b.indices, (std::vector<int64_t>{7, 21}));
  EXPECT_EQ(b.labels, (std::vector<int64_t>{labels_[7], labels_[21]}));
  // Through uint8, as the published pipeline (PIL resize, then ToTensor).
  std::vector<uint8_t> resized(kC * 81);
  resize_bilinear_u8(images_.data() + 21 * kC * kH * kW, kC, kH, kW, resized.data(), 9, 9);
  const double mean[] = {0.25, 0.5}, stddev[] = {0.5, 0.2};
  for (int c = 0; c < kC; ++c)
    for (int p = 0; p < 81; ++p)
      EXPECT_NEAR(b.images[kC * 81 + c * 81 + p],
                  (resized[c * 81 + p] / 255.0 - mean[c]) / stddev[c], 1e-5);
}

// explain --image gives a user's image the transform of a validation row: bitwise the same.
TEST_F(BatchLoaderTest, EvalTransformIsAnUnaugmentedRow) {
  for (int64_t size : {0, 9}) {
    SCOPED_TRACE(size);
    LoaderOptions o = options(2, false, false);
    o.img_size = size;
    BatchLoader loader(shards_, o);
    Batch b = loader.make_batch({5, 21}, 0, false);
    const int64_t oh = loader.out_height(), ow = loader.out_width(), sample = kC * oh * ow;
    std::vector<float> out(static_cast<size_t>(sample));
    eval_transform(images_.data() + 21 * kC * kH * kW, shards_->meta(), oh, ow, out.data());
    EXPECT_EQ(out, std::vector<float>(b.images.begin() + sample, b.images.end()));
  }
}

TEST_F(BatchLoaderTest, AugmentationIsSeededAndMatchesMakeBatch) {
  LoaderOptions o = options(23, false, false);
  o.aug = true;
  BatchLoader a(shards_, o), b(shards_, o);
  auto ba = all_batches(a, 2), bb = all_batches(b, 2);
  EXPECT_EQ(ba[0].images, bb[0].images);
  EXPECT_NE(all_batches(a, 3)[0].images, ba[0].images);
  Batch sync = a.make_batch(ba[0].indices, 2, true);
  EXPECT_EQ(sync.images, ba[0].images);
  Batch plain = a.make_batch(ba[0].indices, 2, false);
  EXPECT_NE(plain.images, ba[0].images);
}

TEST_F(BatchLoaderTest, ThreadCountDoesNotChangeBatches) {
  LoaderOptions o = options(7, true, false);
  o.aug = true;
  o.img_size = 11;
  o.threads = 1;
  BatchLoader one(shards_, o);
  o.threads = 3;
  BatchLoader three(shards_, o);
  auto a = all_batches(one, 4), b = all_batches(three, 4);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].indices, b[i].indices);
    EXPECT_EQ(a[i].labels, b[i].labels);
    EXPECT_EQ(a[i].images, b[i].images);
  }
}

TEST_F(BatchLoaderTest, DestroyingMidEpochDoesNotHang) {
  for (int round = 0; round < 20; ++round) {
    LoaderOptions o = options(1, true, false);
    o.prefetch = 1;
    BatchLoader loader(shards_, o);
    loader.start_epoch(round);
    if (round % 2) {
      ASSERT_TRUE(loader.next().has_value());
    }
    loader.start_epoch(round + 1);  // restart while the worker waits on a full queue
    ASSERT_TRUE(loader.next().has_value());
  }
}

TEST_F(BatchLoaderTest, ProductionErrorSurfacesFromNext) {
  BatchLoader loader(shards_, options(5, false, false));
  testing::write_bytes(paths_[1], "not an HDF5 file any more");  // samples 10..19, loaded lazily
  loader.start_epoch(0);
  ASSERT_TRUE(loader.next().has_value());  // samples 0..4 from the intact first shard
  ASSERT_TRUE(loader.next().has_value());
  try {
    loader.next();
    FAIL() << "expected the corrupt shard to surface";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(paths_[1]), std::string::npos) << e.what();
  }
  EXPECT_FALSE(loader.next().has_value());
}

// The fault campaign's case: flipped image bytes in a shard are never served as training data.
TEST_F(BatchLoaderTest, FlippedImageBytesStopTheLoaderNamingShardAndDataset) {
  BatchLoader loader(shards_, options(5, false, false));
  testing::flip_chunk_bytes(paths_[1], "images", 0);  // samples 10..19, loaded lazily
  loader.start_epoch(0);
  ASSERT_TRUE(loader.next().has_value());  // samples 0..4 from the intact first shard
  ASSERT_TRUE(loader.next().has_value());
  try {
    loader.next();
    FAIL() << "a batch was served from a corrupt shard";
  } catch (const UserError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(paths_[1]), std::string::npos) << msg;
    EXPECT_NE(msg.find("'images'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace scouter
