// Shards' checksums (format version 2 on, shard_format.h): HDF5's Fletcher32 per chunk of /images,
// /labels and /boxes, verified by every read. This file turns a failed verification into one
// UserError naming the file, the dataset and its rows, and verifies whole shards for prep's
// up-to-date checks.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

namespace scouter {

// The datasets of a shard that carry checksums, in the order they are verified.
constexpr const char* kChecksummedDatasets[] = {"images", "labels", "boxes"};

// Reads the whole dataset `name` of the open shard `file` (read from `path`) into `out` as
// mem_type. A chunk that fails its checksum is a UserError naming the file (and `shared_path`,
// the shard it is a node-local copy of, when given), the dataset and the rows of its bad chunks.
void read_checked(hid_t file, const std::string& path, const std::string& name, hid_t mem_type,
                  void* out, const std::string& shared_path = {});

// Reads every checksummed dataset of a shard, a chunk at a time; throws as read_checked does.
// The path overload opens the file first (open_file's one-line UserError when it is truncated).
void verify_shard(hid_t file, const std::string& path);
void verify_shard(const std::string& path);

// For shards of format version 1, which carry no checksums: logs one warning per process saying
// so and how to rewrite them.
void warn_unchecked_shard(const std::string& path, int64_t version);
// For shards in HDF5's earliest file format (versions 1 and 2, h5::has_metadata_checksums false),
// called before HDF5 parses them: one warning per process that their metadata is unchecked.
void warn_unchecked_metadata(const std::string& path);

}  // namespace scouter
