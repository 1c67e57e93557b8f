// Restartable image conversion (datasets/image_shards.h through prep_image_dataset): a re-run
// skips finished shards, an interrupted run (leftover temporary, parts never renamed) is never
// taken as complete and resumes, a changed source converts only its shard, too many bad images
// fail the run without final shards, and the thread count does not change the output.
#include "datasets/image_shards.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "datasets/image_prep.h"
#include "datasets/layout_fixture.h"
#include "datasets/shard_checksum.h"
#include "datasets/shard_damage.h"
#include "datasets/shard_reader.h"
#include "datasets/shard_writer.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

class ImageShardsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* fixtures[] = {"rgb.jpg", "gray.jpg", "cmyk.jpg", "rgb.png", "rgba.png"};
    for (const char* cat : {"Bank", "Bar", "Cafe", "Diner"})
      for (int i = 0; i < 5; ++i)
        testing::place_image(
            fixtures[i], src_ + "/" + cat + "_" + std::to_string(i) + (i < 3 ? ".jpg" : ".png"));
    opt_.src = src_;
    opt_.out = out_;
    opt_.img_size = testing::fixture_img_size();
    opt_.shard_size = 4;  // train: 16 images in 4 shards, val: 4 in 1
    opt_.threads = 2;
  }

  std::vector<std::string> final_files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(out_)) {
      int64_t index = 0, count = 0;
      std::string name = e.path().filename().string();
      if (parse_shard_name(name, "train", &index, &count) ||
          parse_shard_name(name, "val", &index, &count))
        out.push_back(name);
    }
    return out;
  }

  ImagePrepResult run() { return prep_image_dataset("ConText", opt_, nullptr); }

  testing::TempDir dir_;
  std::string src_ = dir_.file("src"), out_ = dir_.file("out");
  ImagePrepOptions opt_;
};

bool same_samples(const std::vector<testing::StoredSample>& a,
                  const std::vector<testing::StoredSample>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].source != b[i].source || a[i].label != b[i].label || a[i].pixels != b[i].pixels)
      return false;
  return true;
}

TEST_F(ImageShardsTest, ReRunSkipsFinishedShards) {
  ImagePrepResult first = run();
  EXPECT_EQ(first.shards_total, 5);
  EXPECT_EQ(first.shards_converted, 5);
  EXPECT_FALSE(first.up_to_date);
  auto before = fs::last_write_time(out_ + "/train-00002-of-00004.h5");
  ImagePrepResult again = run();
  EXPECT_TRUE(again.up_to_date);
  EXPECT_EQ(again.shards_converted, 0);
  EXPECT_EQ(again.images_decoded, 0);
  EXPECT_EQ(again.train_count, 16);
  EXPECT_EQ(fs::last_write_time(out_ + "/train-00002-of-00004.h5"), before);
  EXPECT_EQ(read_text_file(out_ + "/bad_images.txt"), "");
}

TEST_F(ImageShardsTest, LeftoverTemporaryIsNotTakenAsComplete) {
  run();
  auto reference = testing::read_stored(out_, "train");
  // An interrupted write: the shard's final file is gone, a half-written temporary remains.
  fs::remove(out_ + "/train-00001-of-00004.h5");
  testing::write_bytes(out_ + "/train-00001-of-00004.h5.part.tmp.4242.0", "half an HDF5 file");
  EXPECT_THROW(ShardSet::open(out_, "train"), UserError);
  ImagePrepResult r = run();
  EXPECT_EQ(r.shards_converted, 1);
  EXPECT_EQ(r.images_decoded, 4);
  EXPECT_FALSE(fs::exists(out_ + "/train-00001-of-00004.h5.part.tmp.4242.0"));
  EXPECT_TRUE(same_samples(testing::read_stored(out_, "train"), reference));
}

TEST_F(ImageShardsTest, PartsOfAnInterruptedRunAreFinishedWithoutDecoding) {
  run();
  auto reference = testing::read_stored(out_, "val");
  // Stopped after every shard was written but before the final renames.
  for (const auto& name : final_files()) fs::rename(out_ + "/" + name, out_ + "/" + name + ".part");
  EXPECT_THROW(ShardSet::open(out_, "val"), UserError);
  ImagePrepResult r = run();
  EXPECT_EQ(r.shards_converted, 0);
  EXPECT_FALSE(r.up_to_date);
  EXPECT_EQ(final_files().size(), 5u);
  EXPECT_TRUE(same_samples(testing::read_stored(out_, "val"), reference));
}

TEST_F(ImageShardsTest, ChangedSourceConvertsOnlyItsShard) {
  run();
  // Same name, other content (and size, mtime): that shard's digest changes.
  std::string victim = testing::read_stored(out_, "train")[5].source;  // in train shard 1
  testing::place_image("small.png", src_ + "/" + victim);
  ImagePrepResult r = run();
  EXPECT_EQ(r.shards_converted, 1);
  auto train = testing::read_stored(out_, "train");
  EXPECT_EQ(train[5].source, victim);
  EXPECT_EQ(train[5].pixels, testing::expected_pixels("small.png"));
  // Another image size changes every key.
  opt_.img_size += 1;
  EXPECT_EQ(run().shards_converted, 5);
}

TEST_F(ImageShardsTest, CorruptShardIsFoundByTheReRunAndConvertedAgainAlone) {
  run();
  auto reference = testing::read_stored(out_, "train");
  const std::string victim = out_ + "/train-00002-of-00004.h5";
  auto untouched = fs::last_write_time(out_ + "/train-00001-of-00004.h5");
  testing::flip_chunk_bytes(victim, "images", 0);
  EXPECT_THROW(verify_shard(victim), UserError);
  ImagePrepResult r = run();
  EXPECT_EQ(r.shards_converted, 1);
  EXPECT_EQ(r.images_decoded, 4);
  EXPECT_NO_THROW(verify_shard(victim));
  EXPECT_FALSE(fs::exists(victim + ".part"));
  EXPECT_EQ(fs::last_write_time(out_ + "/train-00001-of-00004.h5"), untouched);
  EXPECT_TRUE(same_samples(testing::read_stored(out_, "train"), reference));
  EXPECT_TRUE(run().up_to_date);
}

TEST_F(ImageShardsTest, ShardOfFormatVersion1IsConvertedAgain) {
  run();
  const std::string old = out_ + "/val-00000-of-00001.h5";
  {
    h5::Handle f = h5::open_file(old, true);
    h5::write_attr(f.get(), "format_version", int64_t{1});
  }
  ImagePrepResult r = run();
  EXPECT_EQ(r.shards_converted, 1);
  h5::Handle f = h5::open_file(old);
  EXPECT_EQ(h5::read_attr_int(f.get(), "format_version"), kShardFormatVersion);
}

TEST_F(ImageShardsTest, AnotherDatasetsShardsAreRefusedUnlessOverwrite) {
  ShardMeta m;
  m.dataset = "MNIST";
  m.split = "val";
  m.channels = m.height = m.width = 1;
  m.num_classes = 1;
  m.class_names = {"0"};
  m.mean = m.std = {0.5};
  std::vector<uint8_t> px = {1, 2};
  std::vector<int64_t> labels = {0, 0};
  write_split(out_, m, 2, px.data(), labels.data(), nullptr, 1);
  std::string msg;
  try {
    run();
  } catch (const UserError& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("'" + out_ + "' holds shards of another dataset, MNIST"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("ConText"), std::string::npos) << msg;
  EXPECT_EQ(ShardSet::open(out_, "val")->meta().dataset, "MNIST");
  opt_.overwrite = true;
  run();
  EXPECT_EQ(ShardSet::open(out_, "val")->meta().dataset, "ConText");
  EXPECT_EQ(final_files().size(), 5u);
}

TEST_F(ImageShardsTest, TooManyBadImagesFailWithoutFinalShards) {
  testing::place_image("truncated.jpg", src_ + "/Bank_7.jpg");
  testing::place_image("garbage.jpg", src_ + "/Cafe_8.jpg");
  std::string msg;
  try {
    run();  // 2 of 22 bad, over the default 1%
  } catch (const UserError& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("2 of 22 source images"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad_images.txt"), std::string::npos) << msg;
  EXPECT_TRUE(final_files().empty());
  std::string report = read_text_file(out_ + "/bad_images.txt");
  EXPECT_NE(report.find(src_ + "/Bank_7.jpg: truncated JPEG"), std::string::npos) << report;
  EXPECT_NE(report.find(src_ + "/Cafe_8.jpg: neither JPEG nor PNG"), std::string::npos) << report;

  // Allowing 10% finishes from the parts already written.
  opt_.max_bad_fraction = 0.1;
  ImagePrepResult r = run();
  EXPECT_EQ(r.bad_count, 2);
  EXPECT_EQ(r.train_count + r.val_count, 20);
  EXPECT_EQ(final_files().size(), 6u);
}

TEST_F(ImageShardsTest, ThreadCountDoesNotChangeTheShards) {
  opt_.threads = 1;
  run();
  auto one = testing::read_stored(out_, "train");
  opt_.threads = 3;
  opt_.out = dir_.file("three");
  run();
  EXPECT_TRUE(same_samples(testing::read_stored(opt_.out, "train"), one));
}

}  // namespace
}  // namespace scouter
