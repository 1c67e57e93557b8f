#include "datasets/layout_fixture.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "datasets/image_ops.h"
#include "datasets/image_shards.h"
#include "datasets/shard_reader.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace scouter::testing {
namespace {

std::string fixture(const std::string& name) { return fixtures_dir() + "/convert_images/" + name; }

void put_be32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

}  // namespace

std::vector<uint8_t> png_claiming(int64_t w, int64_t h) {
  TempDir dir;
  std::vector<uint8_t> px(16 * 16, 77);
  write_png(dir.file("a.png"), px.data(), 16, 16, 1);
  std::string file = read_text_file(dir.file("a.png"));
  std::vector<uint8_t> png(file.begin(), file.end());
  // 8-byte signature, IHDR's length, "IHDR" at 12, width at 16, height at 20, CRC at 29.
  if (png.size() < 33 || file.compare(12, 4, "IHDR") != 0) throw Error("write_png wrote no IHDR");
  put_be32(&png[16], static_cast<uint32_t>(w));
  put_be32(&png[20], static_cast<uint32_t>(h));
  put_be32(&png[29], static_cast<uint32_t>(crc32(0, &png[12], 17)));
  return png;
}

int64_t fixture_img_size() {
  h5::Handle f = h5::open_file(fixture("expected.h5"));
  return h5::read_attr_int(f.get(), "img_size");
}

void place_image(const std::string& name, const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  fs::copy_file(fixture(name), path, fs::copy_options::overwrite_existing);
}

std::vector<uint8_t> expected_pixels(const std::string& name) {
  h5::Handle f = h5::open_file(fixture("expected.h5"));
  return h5::read<uint8_t>(f.get(), "resized/" + name);
}

std::pair<int, int> fixture_size(const std::string& name) {
  h5::Handle f = h5::open_file(fixture("expected.h5"));
  auto dims = h5::dataset_info(f.get(), "decoded/" + name).dims;
  return {static_cast<int>(dims[2]), static_cast<int>(dims[1])};
}

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<StoredSample> read_stored(const std::string& dir, const std::string& split) {
  auto set = ShardSet::open(dir, split);
  std::vector<std::string> sources;
  for (const auto& p : set->paths()) {
    auto part = read_source_paths(p);
    sources.insert(sources.end(), part.begin(), part.end());
  }
  if (static_cast<int64_t>(sources.size()) != set->size())
    throw Error("source_paths do not cover the split");
  std::vector<StoredSample> out;
  for (int64_t i = 0; i < set->size(); ++i) {
    const uint8_t* px = set->image(i);
    out.push_back({sources[static_cast<size_t>(i)], set->labels()[static_cast<size_t>(i)],
                   std::vector<uint8_t>(px, px + set->sample_bytes()), set->box(i)});
  }
  return out;
}

void expect_pixels(const std::vector<StoredSample>& samples, const Origins& origin) {
  for (const auto& s : samples) {
    SCOPED_TRACE(s.source);
    ASSERT_TRUE(origin.count(s.source));
    int diff = 0;
    auto expected = expected_pixels(origin.at(s.source));
    for (size_t i = 0; i < expected.size(); ++i) diff += expected[i] != s.pixels[i];
    EXPECT_EQ(diff, 0);
  }
}

const StoredSample& by_source(const std::vector<StoredSample>& v, const std::string& source) {
  auto it = std::find_if(v.begin(), v.end(), [&](const auto& s) { return s.source == source; });
  if (it == v.end()) throw Error("no stored sample from " + source);
  return *it;
}

ImagePrepOptions ImagePrepTest::options() const {
  ImagePrepOptions o;
  o.src = src_;
  o.out = out_;
  o.img_size = size_;
  o.shard_size = 3;
  o.threads = 2;
  o.max_bad_fraction = 0.3;
  return o;
}

void ImagePrepTest::place(const std::string& fixture, const std::string& rel) {
  place_image(fixture, src_ + "/" + rel);
  origin_[rel] = fixture;
}

}  // namespace scouter::testing
