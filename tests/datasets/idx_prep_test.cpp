// `scouter prep` for IDX datasets on small generated files: shards, statistics, checksums,
// skipping an up-to-date conversion, and the errors a user can meet.
#include "datasets/idx_prep.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "datasets/shard_checksum.h"
#include "datasets/shard_damage.h"
#include "datasets/shard_reader.h"
#include "test_util.h"

namespace scouter {
namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

struct Source {
  std::vector<uint8_t> images, labels;
};

Source make_source(int n, int seed) {
  Source s;
  s.images.resize(static_cast<size_t>(n) * 28 * 28);
  for (size_t i = 0; i < s.images.size(); ++i)
    s.images[i] = static_cast<uint8_t>((i * 97 + seed * 13 + (i / 28) * 5) % 256);
  for (int i = 0; i < n; ++i) s.labels.push_back(static_cast<uint8_t>((i * 3 + seed) % 10));
  return s;
}

std::string images_file(const Source& s) {
  return be32(0x803) + be32(static_cast<uint32_t>(s.labels.size())) + be32(28) + be32(28) +
         std::string(s.images.begin(), s.images.end());
}

std::string labels_file(const Source& s) {
  return be32(0x801) + be32(static_cast<uint32_t>(s.labels.size())) +
         std::string(s.labels.begin(), s.labels.end());
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

class IdxPrepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.file("src");
    out_ = dir_.file("shards");
    std::filesystem::create_directories(src_);
    train_ = make_source(50, 1);
    test_ = make_source(20, 2);
    // Three gzipped, one plain: both spellings are found.
    write_gz(src_ + "/train-images-idx3-ubyte.gz", images_file(train_));
    write_gz(src_ + "/train-labels-idx1-ubyte.gz", labels_file(train_));
    write_gz(src_ + "/t10k-images-idx3-ubyte.gz", images_file(test_));
    testing::write_bytes(src_ + "/t10k-labels-idx1-ubyte", labels_file(test_));
  }

  std::string error_of(const std::string& dataset) {
    try {
      prep_idx_dataset(dataset, src_, out_, 16);
    } catch (const UserError& e) {
      return e.what();
    }
    return "no UserError";
  }

  testing::TempDir dir_;
  std::string src_, out_;
  Source train_, test_;
};

TEST_F(IdxPrepTest, WritesBothSplitsWithStatisticsAndChecksums) {
  PrepResult r = prep_idx_dataset("FashionMNIST", src_, out_, 16);
  EXPECT_FALSE(r.skipped);
  EXPECT_EQ(r.train_count, 50);
  EXPECT_EQ(r.val_count, 20);
  EXPECT_EQ(r.train_paths.size(), 4u);  // 16 + 16 + 16 + 2
  EXPECT_EQ(r.val_paths.size(), 2u);

  // Direct two-pass statistics of the train pixels on the 0..1 scale.
  double sum = 0;
  for (uint8_t v : train_.images) sum += v / 255.0;
  double mean = sum / train_.images.size(), sq = 0;
  for (uint8_t v : train_.images) sq += (v / 255.0 - mean) * (v / 255.0 - mean);
  double stddev = std::sqrt(sq / train_.images.size());

  auto train = ShardSet::open(out_, "train");
  auto val = ShardSet::open(out_, "val");
  EXPECT_EQ(train->paths(), r.train_paths);
  for (const auto* set : {train.get(), val.get()}) {
    const ShardMeta& m = set->meta();
    EXPECT_EQ(m.dataset, "FashionMNIST");
    EXPECT_EQ(m.channels, 1);
    EXPECT_EQ(m.height, 28);
    EXPECT_EQ(m.width, 28);
    EXPECT_EQ(m.num_classes, 10);
    EXPECT_EQ(m.class_names, idx_class_names("FashionMNIST"));
    EXPECT_EQ(m.class_names[0], "T-shirt/top");
    EXPECT_EQ(m.class_names[9], "Ankle boot");
    EXPECT_FALSE(m.flip_allowed);
    ASSERT_EQ(m.mean.size(), 1u);
    EXPECT_NEAR(m.mean[0], mean, 1e-12);
    EXPECT_NEAR(m.std[0], stddev, 1e-12);
  }
  EXPECT_EQ(train->meta().source_files,
            (std::vector<std::string>{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}));
  EXPECT_EQ(val->meta().source_files,
            (std::vector<std::string>{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"}));
  EXPECT_EQ(val->meta().source_sha256[1], sha256_file(src_ + "/t10k-labels-idx1-ubyte"));
  EXPECT_EQ(train->meta().source_sha256[0], sha256_file(src_ + "/train-images-idx3-ubyte.gz"));

  std::vector<int64_t> expected_labels(test_.labels.begin(), test_.labels.end());
  EXPECT_EQ(val->labels(), expected_labels);
  for (int64_t i : {0, 17, 49}) {
    const uint8_t* px = train->image(i);
    EXPECT_TRUE(std::equal(px, px + 784, train_.images.begin() + i * 784)) << i;
  }
}

TEST_F(IdxPrepTest, SecondRunIsSkippedAndChangedSourceIsRewritten) {
  prep_idx_dataset("MNIST", src_, out_, 16);
  auto stamp = std::filesystem::last_write_time(out_ + "/val-00000-of-00002.h5");
  PrepResult again = prep_idx_dataset("MNIST", src_, out_, 16);
  EXPECT_TRUE(again.skipped);
  EXPECT_EQ(again.train_count, 50);
  EXPECT_EQ(again.val_count, 20);
  EXPECT_EQ(again.val_paths.size(), 2u);
  EXPECT_EQ(std::filesystem::last_write_time(out_ + "/val-00000-of-00002.h5"), stamp);

  // Another set of test labels: the val split is converted again.
  test_.labels[3] = static_cast<uint8_t>((test_.labels[3] + 1) % 10);
  testing::write_bytes(src_ + "/t10k-labels-idx1-ubyte", labels_file(test_));
  PrepResult changed = prep_idx_dataset("MNIST", src_, out_, 16);
  EXPECT_FALSE(changed.skipped);
  EXPECT_EQ(ShardSet::open(out_, "val")->labels()[3], test_.labels[3]);

  // An incomplete output (a deleted shard) is converted again too.
  std::filesystem::remove(out_ + "/train-00001-of-00004.h5");
  EXPECT_FALSE(prep_idx_dataset("MNIST", src_, out_, 16).skipped);
  EXPECT_EQ(ShardSet::open(out_, "train")->size(), 50);
}

TEST_F(IdxPrepTest, UpToDateCheckFindsACorruptShardAndRewritesIt) {
  PrepResult first = prep_idx_dataset("MNIST", src_, out_, 16);
  testing::flip_chunk_bytes(first.train_paths[1], "images", 3);  // samples 16..
  EXPECT_THROW(verify_shard(first.train_paths[1]), UserError);
  PrepResult again = prep_idx_dataset("MNIST", src_, out_, 16);
  EXPECT_FALSE(again.skipped);
  for (const auto& p : again.train_paths) EXPECT_NO_THROW(verify_shard(p)) << p;
  auto train = ShardSet::open(out_, "train");
  for (int64_t i = 0; i < 50; ++i) {
    const uint8_t* px = train->image(i);
    ASSERT_TRUE(std::equal(px, px + 784, train_.images.begin() + i * 784)) << i;
  }
  EXPECT_TRUE(prep_idx_dataset("MNIST", src_, out_, 16).skipped);
}

TEST_F(IdxPrepTest, ShardsOfFormatVersion1AreRewrittenWithChecksums) {
  PrepResult first = prep_idx_dataset("MNIST", src_, out_, 16);
  for (const auto& p : first.val_paths) {
    h5::Handle f = h5::open_file(p, true);
    h5::write_attr(f.get(), "format_version", int64_t{1});
  }
  EXPECT_EQ(ShardSet::open(out_, "val")->meta().format_version, 1);
  EXPECT_FALSE(prep_idx_dataset("MNIST", src_, out_, 16).skipped);
  EXPECT_EQ(ShardSet::open(out_, "val")->meta().format_version, kShardFormatVersion);
}

TEST_F(IdxPrepTest, UnknownDatasetNamesTheKey) {
  std::string msg = error_of("CIFAR10");
  EXPECT_NE(msg.find("dataset"), std::string::npos) << msg;
  EXPECT_NE(msg.find("CIFAR10"), std::string::npos) << msg;
}

TEST_F(IdxPrepTest, MissingFileNamesBothPathsTried) {
  std::filesystem::remove(src_ + "/t10k-images-idx3-ubyte.gz");
  std::string msg = error_of("MNIST");
  EXPECT_NE(msg.find(src_ + "/t10k-images-idx3-ubyte'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(src_ + "/t10k-images-idx3-ubyte.gz"), std::string::npos) << msg;
  try {
    prep_idx_dataset("FashionMNIST", src_, out_, 16);
  } catch (const UserError& e) {
    EXPECT_NE(e.hint().find("dataset-fashion-mnist"), std::string::npos) << e.hint();
  }
  EXPECT_FALSE(std::filesystem::exists(out_ + "/val-00000-of-00002.h5"));
}

TEST_F(IdxPrepTest, LabelOutOfRangeNamesFileAndIndex) {
  test_.labels[7] = 10;
  testing::write_bytes(src_ + "/t10k-labels-idx1-ubyte", labels_file(test_));
  std::string msg = error_of("MNIST");
  EXPECT_NE(msg.find(src_ + "/t10k-labels-idx1-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample 7"), std::string::npos) << msg;
}

TEST_F(IdxPrepTest, CountMismatchNamesBothFiles) {
  test_.labels.pop_back();
  testing::write_bytes(src_ + "/t10k-labels-idx1-ubyte", labels_file(test_));
  std::string msg = error_of("MNIST");
  EXPECT_NE(msg.find(src_ + "/t10k-labels-idx1-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find(src_ + "/t10k-images-idx3-ubyte.gz"), std::string::npos) << msg;
}

// The real Fashion-MNIST of Debian's dataset-fashion-mnist, where installed: the statistics must
// be the published ones (0.2860 / 0.3530), independently of this code.
TEST(IdxPrepRealData, FashionMnistGivesPublishedStatistics) {
  const std::string src = "/usr/share/datasets/fashion-mnist";
  if (!file_exists(src + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (" << src << ")";
  testing::TempDir out;
  PrepResult r = prep_idx_dataset("FashionMNIST", src, out.path(), 20000);
  EXPECT_EQ(r.train_count, 60000);
  EXPECT_EQ(r.val_count, 10000);
  EXPECT_EQ(r.train_paths.size(), 3u);
  auto train = ShardSet::open(out.path(), "train");
  EXPECT_NEAR(train->meta().mean[0], 0.2860, 5e-5);
  EXPECT_NEAR(train->meta().std[0], 0.3530, 5e-5);
  std::vector<int64_t> per_class(10, 0);
  for (int64_t l : train->labels()) ++per_class[l];
  EXPECT_EQ(per_class, std::vector<int64_t>(10, 6000));  // Fashion-MNIST is balanced
}

TEST(IdxClassNames, MnistDigits) {
  auto names = idx_class_names("MNIST");
  ASSERT_EQ(names.size(), 10u);
  EXPECT_EQ(names[0], "0");
  EXPECT_EQ(names[9], "9");
  EXPECT_THROW(idx_class_names("ImageNet"), UserError);
}

}  // namespace
}  // namespace scouter
