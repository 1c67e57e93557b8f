// Writes shards in the layout of shard_format.h. Each file is built in memory and written in one
// piece under a temporary name, then renamed (h5::write_memory_file), so an interrupted or
// failed conversion never leaves a file that looks done.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "datasets/shard_format.h"

namespace scouter {

// One file. meta.count rows of images (C*H*W bytes each) and labels; boxes (count*4) optional.
// `extra`, when given, adds converter-specific datasets or attributes to the file before it is
// written.
void write_shard(const std::string& path, const ShardMeta& meta, const uint8_t* images,
                 const int64_t* labels, const float* boxes = nullptr,
                 const std::function<void(hid_t file)>& extra = {});

// A whole split into ceil(n / shard_size) files under dir; meta gives everything but the
// per-file fields (shard_index, num_shards, first_index, count, total_count). Returns the paths.
std::vector<std::string> write_split(const std::string& dir, ShardMeta meta, int64_t n,
                                     const uint8_t* images, const int64_t* labels,
                                     const float* boxes, int64_t shard_size);

}  // namespace scouter
