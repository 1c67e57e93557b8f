// `scouter prep` into a folder that holds another dataset's shards (datasets/prep_folder.h):
// refused with one line naming the folder and both datasets, unless --overwrite, which replaces
// them; the dataset's own shards are never in the way.
#include "datasets/prep_folder.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "datasets/idx_prep.h"
#include "datasets/shard_reader.h"
#include "datasets/shard_writer.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

class PrepFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Four small plain IDX files: 20 train and 10 val 28x28 images.
    fs::create_directories(src_);
    for (auto [prefix, n] : {std::pair<std::string, uint32_t>{"train", 20}, {"t10k", 10}}) {
      std::string pixels(n * 784, '\0'), labels;
      for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>(i * 7 % 251);
      for (uint32_t i = 0; i < n; ++i) labels += static_cast<char>(i % 10);
      testing::write_bytes(src_ + "/" + prefix + "-images-idx3-ubyte",
                           be32(0x803) + be32(n) + be32(28) + be32(28) + pixels);
      testing::write_bytes(src_ + "/" + prefix + "-labels-idx1-ubyte",
                           be32(0x801) + be32(n) + labels);
    }
  }

  // A CUB200 train split (2 shards) and one unfinished part, as image prep leaves them.
  void write_cub_shards() {
    ShardMeta m;
    m.dataset = "CUB200";
    m.split = "train";
    m.channels = 3;
    m.height = m.width = 4;
    m.num_classes = 2;
    m.class_names = {"a", "b"};
    m.mean = m.std = {0.5, 0.5, 0.5};
    std::vector<uint8_t> images(6 * 48, 9);
    std::vector<int64_t> labels = {0, 1, 0, 1, 0, 1};
    write_split(out_, m, 6, images.data(), labels.data(), nullptr, 3);
    fs::copy_file(out_ + "/train-00001-of-00002.h5", out_ + "/val-00000-of-00001.h5.part");
    testing::write_bytes(out_ + "/bad_images.txt", "/cub/images/x.jpg: truncated JPEG\n");
  }

  testing::TempDir dir_;
  std::string src_ = dir_.file("src"), out_ = dir_.file("out");
};

TEST_F(PrepFolderTest, AnotherDatasetsShardsAreRefusedNamingFolderAndBothDatasets) {
  write_cub_shards();
  auto before = fs::last_write_time(out_ + "/train-00000-of-00002.h5");
  try {
    prep_idx_dataset("MNIST", src_, out_, 16);
    FAIL() << "prep replaced another dataset's shards";
  } catch (const UserError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'" + out_ + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("CUB200"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MNIST"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3 file(s)"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(e.hint().find("--overwrite true"), std::string::npos) << e.hint();
    EXPECT_NE(e.hint().find("another --out"), std::string::npos) << e.hint();
  }
  EXPECT_EQ(fs::last_write_time(out_ + "/train-00000-of-00002.h5"), before);
  EXPECT_EQ(ShardSet::open(out_, "train")->meta().dataset, "CUB200");
}

TEST_F(PrepFolderTest, OverwriteReplacesThem) {
  write_cub_shards();
  PrepResult r = prep_idx_dataset("MNIST", src_, out_, 16, /*overwrite=*/true);
  EXPECT_FALSE(r.skipped);
  EXPECT_EQ(ShardSet::open(out_, "train")->meta().dataset, "MNIST");
  EXPECT_EQ(ShardSet::open(out_, "val")->size(), 10);
  EXPECT_TRUE(find_foreign_shards(out_, "MNIST").paths.empty());
  EXPECT_FALSE(fs::exists(out_ + "/val-00000-of-00001.h5.part"));
  EXPECT_FALSE(fs::exists(out_ + "/bad_images.txt"));
  // The folder is MNIST's now: a plain re-run is up to date, no --overwrite needed.
  EXPECT_TRUE(prep_idx_dataset("MNIST", src_, out_, 16).skipped);
}

TEST_F(PrepFolderTest, OwnShardsAndUnreadableFilesAreNotForeign) {
  prep_idx_dataset("FashionMNIST", src_, out_, 16);
  testing::write_bytes(out_ + "/train-00007-of-00009.h5", "not HDF5");
  EXPECT_TRUE(find_foreign_shards(out_, "FashionMNIST").paths.empty());
  ForeignShards other = find_foreign_shards(out_, "MNIST");
  EXPECT_EQ(other.dataset, "FashionMNIST");
  EXPECT_EQ(other.paths.size(), 3u);  // train 16 + 4, val 10
  EXPECT_TRUE(find_foreign_shards(dir_.file("absent"), "MNIST").paths.empty());
}

}  // namespace
}  // namespace scouter
