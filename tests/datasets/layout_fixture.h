// Small datasets in their real folder layouts, built from the committed fixture images
// (tests/fixtures/convert_images/, PIL's expected pixels in expected.h5), a reader that returns
// every converted sample with its source path, and the test base the converter tests share.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "datasets/image_prep.h"
#include "test_util.h"

namespace scouter::testing {

// The img_size expected.h5 was made for.
int64_t fixture_img_size();
// Copies fixture image `name` (e.g. "cmyk.jpg") to `path`, creating folders.
void place_image(const std::string& name, const std::string& path);
// PIL's decoded+resized pixels of fixture image `name`, 3 x S x S.
std::vector<uint8_t> expected_pixels(const std::string& name);
// Width and height of fixture image `name`.
std::pair<int, int> fixture_size(const std::string& name);
// The bytes of a small PNG whose header (IHDR, its CRC recomputed) claims w x h pixels.
std::vector<uint8_t> png_claiming(int64_t w, int64_t h);
// Writes a text file, creating folders.
void write_text(const std::string& path, const std::string& text);

struct StoredSample {
  std::string source;  // /source_paths entry
  int64_t label = 0;
  std::vector<uint8_t> pixels;
  std::vector<float> box;
};
// Every sample of a converted split, in stored order (ShardSet + /source_paths).
std::vector<StoredSample> read_stored(const std::string& dir, const std::string& split);

// The fixture image each source path was copied from, to look up PIL's pixels.
using Origins = std::map<std::string, std::string>;
// Every sample's pixels equal PIL's for the fixture image it was copied from.
void expect_pixels(const std::vector<StoredSample>& samples, const Origins& origin);
// The stored sample converted from `source`; throws when there is none.
const StoredSample& by_source(const std::vector<StoredSample>& v, const std::string& source);

// A temporary src/ to build a layout in, out/ for the shards, and small converter options.
class ImagePrepTest : public ::testing::Test {
 protected:
  ImagePrepOptions options() const;
  // Copies fixture image `fixture` to src/<rel> and remembers where it came from.
  void place(const std::string& fixture, const std::string& rel);

  TempDir dir_;
  std::string src_ = dir_.file("src"), out_ = dir_.file("out");
  int64_t size_ = fixture_img_size();
  Origins origin_;
};

}  // namespace scouter::testing
