// Small datasets in their real folder layouts, built from the committed fixture images
// (tests/fixtures/convert_images/, PIL's expected pixels in expected.h5), and a reader that
// returns every converted sample with its source path, for the converter tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter::testing {

// The img_size expected.h5 was made for.
int64_t fixture_img_size();
// Copies fixture image `name` (e.g. "cmyk.jpg") to `path`, creating folders.
void place_image(const std::string& name, const std::string& path);
// PIL's decoded+resized pixels of fixture image `name`, 3 x S x S.
std::vector<uint8_t> expected_pixels(const std::string& name);
// Width and height of fixture image `name`.
std::pair<int, int> fixture_size(const std::string& name);
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

}  // namespace scouter::testing
