// A dataset's fingerprint from its shards' stored chunk checksums (datasets/shard_fingerprint.h):
// recomputed here from the chunks as HDF5 returns them raw (H5Dread_chunk, not the pread of the
// code under test), and checked to follow the data it covers and to ignore what it does not.
#include "datasets/shard_fingerprint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>

#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "common/text.h"
#include "datasets/shard_writer.h"
#include "test_util.h"

namespace scouter {
namespace {

// 1x32x32 samples: 64 per 64 KiB chunk; 150 samples in shards of 100: two files, the first
// with two image chunks.
constexpr int64_t kC = 1, kH = 32, kW = 32, kSample = kC * kH * kW, kN = 150, kShardSize = 100;

ShardMeta meta() {
  ShardMeta m;
  m.dataset = "MNIST";
  m.split = "train";
  m.channels = kC;
  m.height = kH;
  m.width = kW;
  m.num_classes = 3;
  m.class_names = {"zero", "one", "two"};
  m.mean = {0.1307};
  m.std = {0.3081};
  m.source_files = {"train-images-idx3-ubyte.gz"};
  m.source_sha256 = {"abc"};
  m.created_by = "scouter test";
  return m;
}

struct Data {
  std::vector<uint8_t> images;
  std::vector<int64_t> labels;
  std::vector<float> boxes;
};

Data data(uint64_t seed = 3) {
  Data d;
  std::mt19937 gen(static_cast<unsigned>(seed));
  d.images.resize(static_cast<size_t>(kN * kSample));
  for (auto& v : d.images) v = static_cast<uint8_t>(gen() >> 24);
  for (int64_t i = 0; i < kN; ++i) {
    d.labels.push_back(i % 3);
    for (int k = 0; k < 4; ++k) d.boxes.push_back(static_cast<float>(i + k));
  }
  return d;
}

std::vector<std::string> write(const std::string& dir, const ShardMeta& m, const Data& d) {
  return write_split(dir, m, kN, d.images.data(), d.labels.data(), d.boxes.data(), kShardSize);
}

// The documented per-shard text, with each chunk's checksum taken from the last 4 bytes of the
// chunk as H5Dread_chunk returns it (the stored, filtered bytes).
std::string expected_shard_digest(const std::string& path) {
  h5::Handle f = h5::open_file(path);
  hid_t file = f.get();
  std::string s = "scouter-shard-fingerprint 1\n";
  s += "dataset " + h5::read_attr_string(file, "dataset") + "\n";
  s += "split " + h5::read_attr_string(file, "split") + "\n";
  for (const char* a : {"shard_index", "num_shards", "first_index", "total_count", "num_classes"})
    s += str_format("{} {}\n", a, h5::read_attr_int(file, a));
  s += "class_names " + join(h5::read_attr_strings(file, "class_names"), "|") + "\n";
  for (const char* a : {"mean", "std"}) {
    std::vector<std::string> v;
    char buf[40];
    for (double x : h5::read_attr_doubles(file, a)) {
      std::snprintf(buf, sizeof buf, "%.17g", x);
      v.emplace_back(buf);
    }
    s += std::string(a) + " " + join(v, ",") + "\n";
  }
  s += str_format("flip_allowed {}\n", h5::read_attr_int(file, "flip_allowed"));
  for (const char* name : {"images", "labels", "boxes"}) {
    h5::Handle ds = h5::open_dataset(file, name);
    h5::Handle space(H5Dget_space(ds.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    h5::Handle dcpl(H5Dget_create_plist(ds.get()), H5Pclose);
    std::vector<hsize_t> chunk(static_cast<size_t>(rank));
    H5Pget_chunk(dcpl.get(), rank, chunk.data());
    const hsize_t n = (dims[0] + chunk[0] - 1) / chunk[0];
    s += str_format("{} {} {}\n", name, dims[0], n);
    for (hsize_t c = 0; c < n; ++c) {
      std::vector<hsize_t> offset(static_cast<size_t>(rank), 0);
      offset[0] = c * chunk[0];
      hsize_t bytes = 0;
      EXPECT_GE(H5Dget_chunk_storage_size(ds.get(), offset.data(), &bytes), 0);
      std::vector<uint8_t> raw(bytes);
      uint32_t mask = 0;
      EXPECT_GE(H5Dread_chunk(ds.get(), H5P_DEFAULT, offset.data(), &mask, raw.data()), 0);
      for (hsize_t b = bytes - 4; b < bytes; ++b) s += str_format("{:02x}", int64_t{raw[b]});
      s += "\n";
    }
  }
  return sha256_bytes(s.data(), s.size());
}

TEST(ShardFingerprintTest, DigestIsTheDocumentedTextOfStoredChunkChecksums) {
  testing::TempDir dir;
  auto paths = write(dir.path(), meta(), data());
  ASSERT_EQ(paths.size(), 2u);
  for (const auto& p : paths) {
    ShardDigest d = shard_digest(p);
    EXPECT_TRUE(d.from_chunk_checksums);
    EXPECT_EQ(d.sha256, expected_shard_digest(p)) << p;
  }
  EXPECT_EQ(shard_digest(paths[0]).chunks, 2 + 1 + 1);  // images in two chunks, labels, boxes

  // The run's fingerprint: SHA-256 over the sorted "<split>/<file> <digest>" lines.
  std::vector<std::string> lines;
  for (const auto& p : paths)
    lines.push_back("train/" + std::filesystem::path(p).filename().string() + " " +
                    expected_shard_digest(p) + "\n");
  lines.push_back("val/" + std::filesystem::path(paths[0]).filename().string() + " " +
                  expected_shard_digest(paths[0]) + "\n");
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const auto& l : lines) all += l;
  DataFingerprint f = data_fingerprint({{"val", {paths[0]}}, {"train", paths}});
  EXPECT_EQ(f.sha256, sha256_bytes(all.data(), all.size()));
  EXPECT_EQ(f.files, 3);
  EXPECT_EQ(f.chunks, 4 + 3 + 4);
  EXPECT_EQ(f.whole_files_hashed, 0);
}

TEST(ShardFingerprintTest, FollowsPixelsLabelsAndMeaningNotWhoWroteThem) {
  testing::TempDir a, same, pixel, label, names, writer;
  const Data d = data();
  auto fp = [](const std::vector<std::string>& paths) { return data_fingerprint({{"train", paths}}).sha256; };
  const std::string base = fp(write(a.path(), meta(), d));
  EXPECT_EQ(fp(write(same.path(), meta(), d)), base);  // the same data written again

  Data one_pixel = d;
  one_pixel.images[static_cast<size_t>(120 * kSample + 5)] ^= 1;  // a sample of the second file
  EXPECT_NE(fp(write(pixel.path(), meta(), one_pixel)), base);

  Data one_label = d;
  one_label.labels[7] = (one_label.labels[7] + 1) % 3;
  EXPECT_NE(fp(write(label.path(), meta(), one_label)), base);

  ShardMeta renamed = meta();
  renamed.class_names[2] = "deux";
  EXPECT_NE(fp(write(names.path(), renamed, d)), base);

  ShardMeta other_writer = meta();
  other_writer.created_by = "scouter 9.9 (elsewhere)";
  other_writer.source_files = {"/another/path/train-images-idx3-ubyte.gz"};
  EXPECT_EQ(fp(write(writer.path(), other_writer, d)), base);
}

TEST(ShardFingerprintTest, AnUnreadableShardIsOneErrorNamingIt) {
  testing::TempDir dir;
  const std::string path = dir.file("train-00000-of-00001.h5");
  testing::write_bytes(path, "not an HDF5 file");
  try {
    shard_digest(path);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace scouter
