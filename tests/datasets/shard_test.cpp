// Shards: what write_split writes, ShardSet::open reads back; and every way a split on disk can
// be broken is reported as a UserError naming the folder or the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "datasets/shard_reader.h"
#include "datasets/shard_writer.h"
#include "test_util.h"

namespace scouter {
namespace {

struct Data {
  int64_t n = 0;
  std::vector<uint8_t> images;
  std::vector<int64_t> labels;
  std::vector<float> boxes;
};

ShardMeta base_meta() {
  ShardMeta m;
  m.dataset = "CUB200";
  m.split = "train";
  m.channels = 3;
  m.height = 4;
  m.width = 5;
  m.num_classes = 3;
  m.class_names = {"a", "b", "c"};
  m.mean = {0.1, 0.2, 0.3};
  m.std = {0.4, 0.5, 0.6};
  m.flip_allowed = true;
  m.source_files = {"images.txt"};
  m.source_sha256 = {"abc123"};
  return m;
}

Data make_data(int64_t n, int64_t sample_bytes) {
  Data d;
  d.n = n;
  d.images.resize(static_cast<size_t>(n * sample_bytes));
  for (size_t i = 0; i < d.images.size(); ++i)
    d.images[i] = static_cast<uint8_t>((i * 31 + 7) % 256);
  for (int64_t i = 0; i < n; ++i) {
    d.labels.push_back((i * 2 + 1) % 3);
    for (int k = 0; k < 4; ++k) d.boxes.push_back(static_cast<float>(i * 10 + k) + 0.5f);
  }
  return d;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT A UserError: ") + e.what();
  }
  return "no error";
}

class ShardTest : public ::testing::Test {
 protected:
  std::vector<std::string> write(const ShardMeta& meta, const Data& d, int64_t shard_size,
                                 bool boxes = false) {
    return write_split(dir_.path(), meta, d.n, d.images.data(), d.labels.data(),
                       boxes ? d.boxes.data() : nullptr, shard_size);
  }
  testing::TempDir dir_;
};

TEST(ShardFormat, PathAndNameParsing) {
  EXPECT_EQ(shard_path("/d", "train", 3, 10), "/d/train-00003-of-00010.h5");
  int64_t i = -1, n = -1;
  EXPECT_TRUE(parse_shard_name("val-00002-of-00004.h5", "val", &i, &n));
  EXPECT_EQ(i, 2);
  EXPECT_EQ(n, 4);
  EXPECT_FALSE(parse_shard_name("val-00002-of-00004.h5.tmp.12.0", "val", &i, &n));
  EXPECT_FALSE(parse_shard_name("train-00002-of-00004.h5", "val", &i, &n));
  EXPECT_FALSE(parse_shard_name("val-x-of-00004.h5", "val", &i, &n));
}

TEST_F(ShardTest, RoundTripKeepsBytesLabelsBoxesAndAttributes) {
  ShardMeta meta = base_meta();
  Data d = make_data(23, 60);
  auto paths = write(meta, d, 10, true);
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[2], shard_path(dir_.path(), "train", 2, 3));

  auto set = ShardSet::open(dir_.path(), "train");
  EXPECT_EQ(set->paths(), paths);
  EXPECT_EQ(set->size(), 23);
  EXPECT_EQ(set->sample_bytes(), 60);
  EXPECT_EQ(set->labels(), d.labels);
  const ShardMeta& m = set->meta();
  EXPECT_EQ(m.dataset, "CUB200");
  EXPECT_EQ(m.split, "train");
  EXPECT_EQ(m.count, 23);
  EXPECT_EQ(m.total_count, 23);
  EXPECT_EQ(m.num_shards, 3);
  EXPECT_EQ(m.channels, 3);
  EXPECT_EQ(m.height, 4);
  EXPECT_EQ(m.width, 5);
  EXPECT_EQ(m.num_classes, 3);
  EXPECT_EQ(m.class_names, meta.class_names);
  EXPECT_EQ(m.mean, meta.mean);
  EXPECT_EQ(m.std, meta.std);
  EXPECT_TRUE(m.flip_allowed);
  EXPECT_TRUE(m.has_boxes);
  EXPECT_EQ(m.source_files, meta.source_files);
  EXPECT_EQ(m.source_sha256, meta.source_sha256);
  EXPECT_EQ(m.created_by.rfind("scouter ", 0), 0u) << m.created_by;
  for (int64_t i = 22; i >= 0; --i) {  // backwards: shards load out of order
    const uint8_t* px = set->image(i);
    ASSERT_TRUE(std::equal(px, px + 60, d.images.begin() + i * 60)) << "sample " << i;
    auto b = set->box(i);
    EXPECT_EQ(b, std::vector<float>(d.boxes.begin() + i * 4, d.boxes.begin() + i * 4 + 4));
  }

  // Per-file fields, as any HDF5 reader sees them.
  h5::Handle f = h5::open_file(paths[1]);
  EXPECT_EQ(h5::read_attr_string(f.get(), "format"), "scouter-shard");
  EXPECT_EQ(h5::read_attr_int(f.get(), "format_version"), kShardFormatVersion);
  EXPECT_EQ(h5::read_attr_int(f.get(), "shard_index"), 1);
  EXPECT_EQ(h5::read_attr_int(f.get(), "first_index"), 10);
  EXPECT_EQ(h5::read_attr_int(f.get(), "total_count"), 23);
  EXPECT_EQ(h5::dataset_info(f.get(), "images").dims, (std::vector<hsize_t>{10, 3, 4, 5}));
  EXPECT_EQ(h5::dataset_info(f.get(), "boxes").dims, (std::vector<hsize_t>{10, 4}));
}

TEST_F(ShardTest, NoBoxesGivesMinusOnesAndEmptySourceListsRoundTrip) {
  Data d = make_data(5, 60);
  ShardMeta meta = base_meta();
  meta.source_files.clear();
  meta.source_sha256.clear();
  write(meta, d, 100);
  auto set = ShardSet::open(dir_.path(), "train");
  EXPECT_TRUE(set->meta().source_files.empty());
  EXPECT_TRUE(set->meta().source_sha256.empty());
  EXPECT_FALSE(set->meta().has_boxes);
  EXPECT_EQ(set->box(3), std::vector<float>(4, -1.f));
  EXPECT_THROW(set->image(5), Error);
}

TEST_F(ShardTest, RewriteWithOtherShardSizeRemovesStaleFilesAndLeavesNoTemporaries) {
  Data d = make_data(23, 60);
  write(base_meta(), d, 5);   // 5 files
  write(base_meta(), d, 10);  // 3 files replace them
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    ++files;
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  }
  EXPECT_EQ(files, 3);
  EXPECT_EQ(ShardSet::open(dir_.path(), "train")->paths().size(), 3u);
}

TEST_F(ShardTest, LeftoverTemporaryFileIsIgnored) {
  Data d = make_data(12, 60);
  auto paths = write(base_meta(), d, 10);
  testing::write_bytes(paths[0] + ".tmp.999.0", "half-written garbage");
  testing::write_bytes(dir_.file("train-00005-of-00009.h5.tmp.1.2"), "garbage");
  EXPECT_EQ(ShardSet::open(dir_.path(), "train")->size(), 12);
}

TEST_F(ShardTest, MissingFolderOrSplitNamesTheFolder) {
  std::string msg = error_of([&] { ShardSet::open(dir_.file("nope"), "train"); });
  EXPECT_NE(msg.find(dir_.file("nope")), std::string::npos) << msg;
  msg = error_of([&] { ShardSet::open(dir_.path(), "val"); });
  EXPECT_NE(msg.find(dir_.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("val"), std::string::npos) << msg;
  try {
    ShardSet::open(dir_.path(), "val");
  } catch (const UserError& e) {
    EXPECT_NE(e.hint().find("scouter prep"), std::string::npos) << e.hint();
  }
}

TEST_F(ShardTest, MissingShardFileIsNamed) {
  auto paths = write(base_meta(), make_data(23, 60), 10);
  std::filesystem::remove(paths[1]);
  std::string msg = error_of([&] { ShardSet::open(dir_.path(), "train"); });
  EXPECT_NE(msg.find(paths[1]), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST_F(ShardTest, WrongFormatVersionNamesFileAndVersions) {
  auto paths = write(base_meta(), make_data(23, 60), 10);
  {
    h5::Handle f = h5::open_file(paths[2], true);
    h5::write_attr(f.get(), "format_version", int64_t{99});
  }
  std::string msg = error_of([&] { ShardSet::open(dir_.path(), "train"); });
  EXPECT_NE(msg.find(paths[2]), std::string::npos) << msg;
  EXPECT_NE(msg.find("99"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(kShardFormatVersion)), std::string::npos) << msg;
}

TEST_F(ShardTest, InconsistentShapesAreReported) {
  ShardMeta meta = base_meta();
  Data d = make_data(23, 60);
  auto paths = write(meta, d, 10);
  // Replace the last file with one of another image size but otherwise matching fields.
  ShardMeta odd = meta;
  odd.height = 2;
  odd.width = 10;  // same bytes per sample, other shape
  odd.shard_index = 2;
  odd.num_shards = 3;
  odd.first_index = 20;
  odd.count = 3;
  odd.total_count = 23;
  write_shard(paths[2], odd, d.images.data() + 20 * 60, d.labels.data() + 20);
  std::string msg = error_of([&] { ShardSet::open(dir_.path(), "train"); });
  EXPECT_NE(msg.find(paths[2]), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape"), std::string::npos) << msg;
}

TEST_F(ShardTest, WrongCountsAreReported) {
  ShardMeta meta = base_meta();
  Data d = make_data(23, 60);
  auto paths = write(meta, d, 10);
  ShardMeta shorter = meta;
  shorter.shard_index = 2;
  shorter.num_shards = 3;
  shorter.first_index = 20;
  shorter.count = 2;  // one sample short of total_count
  shorter.total_count = 23;
  write_shard(paths[2], shorter, d.images.data() + 20 * 60, d.labels.data() + 20);
  std::string msg = error_of([&] { ShardSet::open(dir_.path(), "train"); });
  EXPECT_NE(msg.find("22"), std::string::npos) << msg;
  EXPECT_NE(msg.find("23"), std::string::npos) << msg;
}

TEST_F(ShardTest, CorruptFilesAreNamed) {
  auto paths = write(base_meta(), make_data(23, 60), 10);
  // Garbage instead of HDF5.
  testing::write_bytes(paths[1], std::string(4096, 'x'));
  std::string msg = error_of([&] { ShardSet::open(dir_.path(), "train"); });
  EXPECT_NE(msg.find(paths[1]), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a complete HDF5 file"), std::string::npos) << msg;

  // A truncated HDF5 file: h5::open_file's line, not wrapped (the file named once, no source
  // location).
  paths = write(base_meta(), make_data(23, 60), 10);
  std::filesystem::resize_file(paths[0], std::filesystem::file_size(paths[0]) / 2);
  msg = error_of([&] {
    auto set = ShardSet::open(dir_.path(), "train");
    set->image(0);
  });
  EXPECT_NE(msg.find(paths[0]), std::string::npos) << msg;
  EXPECT_EQ(msg.find(paths[0]), msg.rfind(paths[0])) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("h5.cpp"), std::string::npos) << msg;
}

TEST_F(ShardTest, LabelOutOfRangeNamesFileAndSample) {
  Data d = make_data(23, 60);
  d.labels[14] = 3;  // num_classes is 3
  auto paths = write(base_meta(), d, 10);
  std::string msg = error_of([&] { ShardSet::open(dir_.path(), "train"); });
  EXPECT_NE(msg.find(paths[1]), std::string::npos) << msg;
  EXPECT_NE(msg.find("14"), std::string::npos) << msg;
}

TEST_F(ShardTest, MixedConversionsAreReported) {
  ShardMeta meta = base_meta();
  Data d = make_data(23, 60);
  auto paths = write(meta, d, 10);
  // A file of another conversion (other class names) in place of shard 1.
  ShardMeta other = meta;
  other.class_names = {"x", "y", "z"};
  other.shard_index = 1;
  other.num_shards = 3;
  other.first_index = 10;
  other.count = 10;
  other.total_count = 23;
  write_shard(paths[1], other, d.images.data() + 600, d.labels.data() + 10);
  std::string msg = error_of([&] { ShardSet::open(dir_.path(), "train"); });
  EXPECT_NE(msg.find(paths[1]), std::string::npos) << msg;
  EXPECT_NE(msg.find("class_names"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scouter
