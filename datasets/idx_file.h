// Reader for the IDX format of MNIST and Fashion-MNIST (gzipped or plain; zlib reads both).
// Validates the magic number, the element type (unsigned byte), the dimensions and the exact
// file length; any violation is a UserError naming the file and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<uint8_t> data;  // row-major, dims' product bytes
};

// expected_ndim: 3 for image files (magic 0x00000803), 1 for label files (0x00000801).
IdxArray read_idx(const std::string& path, int expected_ndim);

}  // namespace scouter
