// A user's own image file (`scouter explain RUN --image FILE`) made into a sample as the run's
// shards store it: decoded, converted and resized exactly as `scouter prep` stores that dataset's
// images (store_decoded_image), its object box moved into stored pixels the same way.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/shard_format.h"

namespace scouter {

struct UserImage {
  std::string path;
  int source_width = 0, source_height = 0;              // the file's size in pixels
  int64_t channels = 0, height = 0, width = 0;          // as the shards store samples
  std::vector<uint8_t> pixels;                          // channels x height x width
  std::array<float, 4> box = {-1.f, -1.f, -1.f, -1.f};  // x, y, w, h in stored pixels; -1s: none
};

// An object box in the file's pixels: x, y (top-left corner), w, h; w < 0 means none.
using SourceBox = std::array<double, 4>;
constexpr SourceBox kNoBox = {-1, -1, -1, -1};

// Reads `path` (JPEG or PNG, told by its first bytes) into the form of `meta`'s samples. Throws
// UserError naming the file when it cannot be read or decoded (saying what is supported), and
// when the box is not a non-empty rectangle inside the image.
UserImage load_user_image(const std::string& path, const ShardMeta& meta,
                          const SourceBox& box = kNoBox);

}  // namespace scouter
