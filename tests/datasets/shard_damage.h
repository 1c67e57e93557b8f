// Damages shard files the way a faulty disk or copy would, for the checksum tests: flipped bytes
// inside one stored chunk of a dataset, found through HDF5's own chunk index.
#pragma once

#include <cstdint>
#include <string>

namespace scouter::testing {

// Inverts `count` bytes in the middle of the stored chunk of dataset `name` that holds row `row`.
void flip_chunk_bytes(const std::string& path, const std::string& name, int64_t row,
                      int64_t count = 64);

}  // namespace scouter::testing
