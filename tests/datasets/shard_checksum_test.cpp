// Shard checksums (datasets/shard_checksum.h): flipped bytes in a stored chunk of /images,
// /labels or /boxes stop the read with one line naming the file, the dataset and the rows; a
// truncated shard is one line naming the file; shards of format version 1 (no checksums) still
// load, with one warning per process.
#include "datasets/shard_checksum.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/log.h"
#include "datasets/shard_damage.h"
#include "datasets/shard_reader.h"
#include "datasets/shard_writer.h"
#include "test_util.h"

namespace scouter {
namespace {

// 3x64x64 samples: 5 per 64 KiB chunk, so a shard of 10 has two image chunks (rows 0..4, 5..9).
constexpr int64_t kC = 3, kH = 64, kW = 64, kSample = kC * kH * kW, kN = 23, kShardSize = 10;

ShardMeta base_meta() {
  ShardMeta m;
  m.dataset = "CUB200";
  m.split = "train";
  m.channels = kC;
  m.height = kH;
  m.width = kW;
  m.num_classes = 3;
  m.class_names = {"a", "b", "c"};
  m.mean = {0.1, 0.2, 0.3};
  m.std = {0.4, 0.5, 0.6};
  m.source_files = {"images.txt"};
  m.source_sha256 = {"abc123"};
  return m;
}

struct Data {
  std::vector<uint8_t> images;
  std::vector<int64_t> labels;
  std::vector<float> boxes;
};

Data make_data() {
  Data d;
  std::mt19937 gen(7);
  d.images.resize(static_cast<size_t>(kN * kSample));
  for (auto& v : d.images) v = static_cast<uint8_t>(gen() >> 24);
  for (int64_t i = 0; i < kN; ++i) {
    d.labels.push_back(i % 3);
    for (int k = 0; k < 4; ++k) d.boxes.push_back(static_cast<float>(i + k));
  }
  return d;
}

UserError user_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e;
  } catch (const std::exception& e) {
    return UserError(std::string("NOT A UserError: ") + e.what());
  }
  return UserError("no error");
}

class ShardChecksumTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = make_data();
    paths_ = write_split(dir_.path(), base_meta(), kN, data_.images.data(), data_.labels.data(),
                         data_.boxes.data(), kShardSize);
    ASSERT_EQ(paths_.size(), 3u);
  }
  bool sample_intact(ShardSet& set, int64_t i) const {
    const uint8_t* px = set.image(i);
    return std::equal(px, px + kSample, data_.images.begin() + i * kSample);
  }

  testing::TempDir dir_;
  Data data_;
  std::vector<std::string> paths_;
};

TEST_F(ShardChecksumTest, FlippedImageBytesStopTheReadNamingFileDatasetAndRows) {
  testing::flip_chunk_bytes(paths_[1], "images", 7);  // shard 1's second chunk: rows 5..9
  auto set = ShardSet::open(dir_.path(), "train");
  EXPECT_TRUE(sample_intact(*set, 3));  // other shards are unaffected
  EXPECT_TRUE(sample_intact(*set, 22));
  UserError e = user_error_of([&] { set->image(12); });
  std::string msg = e.what();
  EXPECT_NE(msg.find("shard '" + paths_[1] + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dataset 'images'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rows 5..9"), std::string::npos) << msg;
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(msg.find("h5.cpp"), std::string::npos) << msg;
  EXPECT_NE(e.hint().find("scouter prep"), std::string::npos) << e.hint();
  // Never served half-loaded: the next request fails the same way.
  EXPECT_NE(std::string(user_error_of([&] { set->image(10); }).what()).find("rows 5..9"),
            std::string::npos);
}

TEST_F(ShardChecksumTest, FlippedLabelBytesStopTheOpen) {
  testing::flip_chunk_bytes(paths_[2], "labels", 0, 8);
  std::string msg = user_error_of([&] { ShardSet::open(dir_.path(), "train"); }).what();
  EXPECT_NE(msg.find("shard '" + paths_[2] + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dataset 'labels'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rows 0..2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
}

TEST_F(ShardChecksumTest, FlippedBoxBytesStopTheLoad) {
  testing::flip_chunk_bytes(paths_[0], "boxes", 0, 8);
  auto set = ShardSet::open(dir_.path(), "train");
  std::string msg = user_error_of([&] { set->box(4); }).what();
  EXPECT_NE(msg.find("shard '" + paths_[0] + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dataset 'boxes'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rows 0..9"), std::string::npos) << msg;
}

TEST_F(ShardChecksumTest, VerifyShardReportsEveryBadChunk) {
  for (const auto& p : paths_) EXPECT_NO_THROW(verify_shard(p)) << p;
  testing::flip_chunk_bytes(paths_[1], "images", 1);
  testing::flip_chunk_bytes(paths_[1], "images", 8);
  std::string msg = user_error_of([&] { verify_shard(paths_[1]); }).what();
  EXPECT_NE(msg.find(paths_[1]), std::string::npos) << msg;
  EXPECT_NE(msg.find("dataset 'images', rows 0..4 and 1 more chunk(s)"), std::string::npos)
      << msg;
}

TEST_F(ShardChecksumTest, ReadFromANodeLocalCopyNamesTheShardAndTheCopy) {
  std::string copy = dir_.file("local-copy.h5");
  std::filesystem::copy_file(paths_[1], copy);
  testing::flip_chunk_bytes(copy, "images", 0);
  auto set = ShardSet::open(dir_.path(), "train");
  set->use_local_copy(1, copy);
  std::string msg = user_error_of([&] { set->image(10); }).what();
  EXPECT_NE(msg.find("shard '" + paths_[1] + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("node-local copy '" + copy + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rows 0..4"), std::string::npos) << msg;
}

TEST_F(ShardChecksumTest, TruncatedShardIsOneLineNamingTheFile) {
  auto set = ShardSet::open(dir_.path(), "train");
  std::filesystem::resize_file(paths_[1], std::filesystem::file_size(paths_[1]) - 1000);
  for (const auto& f : std::vector<std::function<void()>>{
           [&] { set->image(10); }, [&] { verify_shard(paths_[1]); }}) {
    UserError e = user_error_of(f);
    std::string msg = e.what();
    EXPECT_NE(msg.find("'" + paths_[1] + "'"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(paths_[1]), msg.rfind(paths_[1])) << msg;  // named once, not wrapped
    EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("HDF5 call failed"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(e.hint().find("scouter prep"), std::string::npos) << e.hint();
  }
}

// A shard as format version 1 wrote it: HDF5's earliest file format, no chunking of labels, no
// checksums anywhere.
void write_format1_split(const std::string& dir, const Data& d) {
  ShardMeta m = base_meta();
  for (int64_t s = 0; s < 3; ++s) {
    int64_t first = s * kShardSize, count = std::min(kShardSize, kN - first);
    h5::Handle f(H5Fcreate(shard_path(dir, "train", s, 3).c_str(), H5F_ACC_TRUNC, H5P_DEFAULT,
                           H5P_DEFAULT),
                 H5Fclose);
    auto n = static_cast<hsize_t>(count);
    h5::write<uint8_t>(f.get(), "images", {n, kC, kH, kW}, d.images.data() + first * kSample);
    h5::write<int64_t>(f.get(), "labels", {n}, d.labels.data() + first);
    h5::write_attr(f.get(), "format", std::string(kShardFormat));
    h5::write_attr(f.get(), "format_version", int64_t{1});
    h5::write_attr(f.get(), "dataset", m.dataset);
    h5::write_attr(f.get(), "split", m.split);
    h5::write_attr(f.get(), "shard_index", s);
    h5::write_attr(f.get(), "num_shards", int64_t{3});
    h5::write_attr(f.get(), "first_index", first);
    h5::write_attr(f.get(), "total_count", kN);
    h5::write_attr(f.get(), "num_classes", m.num_classes);
    h5::write_attr(f.get(), "class_names", m.class_names);
    h5::write_attr(f.get(), "mean", m.mean);
    h5::write_attr(f.get(), "std", m.std);
    h5::write_attr(f.get(), "flip_allowed", int64_t{0});
    h5::write_attr(f.get(), "source_files", m.source_files);
    h5::write_attr(f.get(), "source_sha256", m.source_sha256);
    h5::write_attr(f.get(), "created_by", std::string("scouter 0.9 (old)"));
  }
}

TEST(ShardFormat1, StillLoads) {
  testing::TempDir dir;
  Data d = make_data();
  write_format1_split(dir.path(), d);
  auto set = ShardSet::open(dir.path(), "train");
  EXPECT_EQ(set->meta().format_version, 1);
  EXPECT_EQ(set->size(), kN);
  EXPECT_EQ(set->labels(), d.labels);
  for (int64_t i : {0, 12, 22}) {
    const uint8_t* px = set->image(i);
    EXPECT_TRUE(std::equal(px, px + kSample, d.images.begin() + i * kSample)) << i;
  }
}

// Opens two format-1 splits and returns how many times each warning was logged (printing the
// log): 10 x "carry no checksums" (data) + "metadata carries no checksums".
int format1_warnings() {
  testing::TempDir first, second;
  Data d = make_data();
  write_format1_split(first.path(), d);
  write_format1_split(second.path(), d);
  init_logging(0, "info");
  ::testing::internal::CaptureStderr();
  ShardSet::open(first.path(), "train");
  ShardSet::open(second.path(), "train");
  log::flush();
  std::string out = ::testing::internal::GetCapturedStderr();
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
  int warnings = 0;
  for (size_t at = out.find("carry no checksums"); at != std::string::npos;
       at = out.find("carry no checksums", at + 1))
    warnings += 10;
  for (size_t at = out.find("metadata carries no checksums"); at != std::string::npos;
       at = out.find("metadata carries no checksums", at + 1))
    ++warnings;
  return warnings;
}

// In a process of its own (death-test style "threadsafe" re-runs the binary for this test alone),
// so no other test's shard has warned first. The child exits with the number of warnings.
TEST(ShardFormat1, WarnsOncePerProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::_Exit(format1_warnings()), ::testing::ExitedWithCode(11),
              "earliest file format, whose metadata carries no checksums.*re-run `scouter prep`"
              ".*format_version 1: its images and labels carry no checksums.*re-run `scouter prep`");
}

// A shard exactly as scouter wrote it before format version 3 (tests/fixtures/legacy_shard: the
// toy dataset's val split, 8 samples of 1x32x32 in 4 classes, written by make_toy_data at commit
// a790396: HDF5's earliest format, variable-length strings) still loads.
TEST(ShardFormat2, RealOldShardStillLoads) {
  const std::string dir = testing::fixtures_dir() + "/legacy_shard";
  ASSERT_FALSE(h5::has_metadata_checksums(dir + "/val-00000-of-00001.h5"));
  auto set = ShardSet::open(dir, "val");
  EXPECT_EQ(set->meta().format_version, 2);
  EXPECT_EQ(set->size(), 8);
  EXPECT_EQ(set->meta().num_classes, 4);
  EXPECT_EQ(static_cast<int64_t>(set->meta().class_names.size()), 4);
  EXPECT_FALSE(set->meta().created_by.empty());
  for (int64_t l : set->labels()) EXPECT_TRUE(l >= 0 && l < 4) << l;
  EXPECT_NE(set->image(7), nullptr);
}

// The same through ShardSet: an old-format shard that makes libhdf5 loop is one UserError naming
// it (the probe's time limit shortened for the test through SCOUTER_HDF5_PROBE_SECONDS).
TEST(ShardFormat2, ADamagedOldShardIsAnErrorNotAHang) {
  testing::TempDir dir;
  testing::write_bytes(dir.file("val-00000-of-00001.h5"),
                       read_text_file(testing::source_dir() + "/tests/fuzz/regression/shard/hdf5-global-heap-hang"));
  ::setenv("SCOUTER_HDF5_PROBE_SECONDS", "2", 1);
  const UserError e = user_error_of([&] { ShardSet::open(dir.path(), "val"); });
  ::unsetenv("SCOUTER_HDF5_PROBE_SECONDS");
  const std::string msg = e.what();
  EXPECT_NE(msg.find("shard '" + dir.file("val-00000-of-00001.h5") + "' is corrupt or unreadable"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("did not finish within 2 s"), std::string::npos) << msg;
}

// Shards are written in the checked format (common/h5.h "File format"): one flipped byte anywhere
// in a shard is a UserError naming it, or harmless, when the split is opened and every sample
// read; never a crash (which would end this test binary) or a hang (CTest's timeout). Every byte
// of the first and last 2 KiB of the file holding samples 10..19 (where HDF5 puts the
// superblock, object headers, attributes and chunk indexes), and every 499th byte between (the
// image chunks, covered by Fletcher32). H5.NoFlippedByteCrashesTheReader flips every byte of a
// whole file.
TEST_F(ShardChecksumTest, NoFlippedByteCrashesOpeningOrReading) {
  const std::string target = paths_[1];
  ASSERT_TRUE(h5::has_metadata_checksums(target));
  const std::string bytes = read_text_file(target);
  ASSERT_GT(bytes.size(), 3 * 2048u);
  int64_t errors = 0, harmless = 0;
  for (size_t at = 0; at < bytes.size(); at += (at < 2048 || at + 2048 >= bytes.size()) ? 1 : 499) {
    std::string mutant = bytes;
    mutant[at] = static_cast<char>(mutant[at] ^ 0x01);
    testing::write_bytes(target, mutant);
    try {
      auto set = ShardSet::open(dir_.path(), "train");
      for (int64_t i = 0; i < set->size(); ++i) set->image(i);
      set->box(kShardSize);
      ++harmless;
    } catch (const UserError& e) {
      ++errors;
      const std::string msg = e.what();
      EXPECT_NE(msg.find(target), std::string::npos) << at << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << at << ": " << msg;
    }
  }
  testing::write_bytes(target, bytes);
  EXPECT_GT(errors, 0);
  std::printf("%lld flips refused, %lld harmless\n", static_cast<long long>(errors),
              static_cast<long long>(harmless));
}

}  // namespace
}  // namespace scouter
