// A dataset's fingerprint for run provenance, from the checksums its shards already store: one
// digest per shard file, combined over the files a run reads, without reading the images again.
//
// Per shard (format version 2 on, whose /images, /labels and /boxes carry HDF5's Fletcher32 per
// chunk): the SHA-256 of the text
//   "scouter-shard-fingerprint 1\n"
//   "<attribute> <value>\n"        for dataset, split, shard_index, num_shards, first_index,
//                                  total_count, num_classes, class_names (joined by '|'),
//                                  mean and std (each value "%.17g", joined by ','), flip_allowed
//   "<dataset> <rows> <chunks>\n"  for images, labels, boxes (those present), then one line per
//   "<hex>\n"                      chunk, in row order: its stored Fletcher32 (the 4 bytes HDF5
//                                  appends to the chunk on disk, read with one pread each)
// Shards without chunk checksums (format version 1) get the SHA-256 of the whole file instead.
// The fingerprint of a run's data is the SHA-256 of the lines "<split>/<file name> <digest>\n",
// sorted. It changes with any stored pixel, label, box, class name or normalisation (as far as a
// 32-bit checksum per chunk tells changed bytes apart: accidents, not forgeries), and not with
// created_by, source paths or the HDF5 file layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

struct ShardDigest {
  std::string file;    // base name, e.g. "train-00000-of-00004.h5"
  std::string sha256;  // lower-case hex
  bool from_chunk_checksums = true;  // false: the whole file was hashed (no chunk checksums)
  int64_t chunks = 0;
};

// The digest of one shard file; UserError naming the file if it cannot be read.
ShardDigest shard_digest(const std::string& path);

struct DataFingerprint {
  std::string sha256;  // over every file of every split given
  int64_t files = 0, chunks = 0;
  int64_t whole_files_hashed = 0;  // shards without chunk checksums
};

// splits: (split name, its shard paths) as the run reads them (the shared copies).
DataFingerprint data_fingerprint(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& splits);

}  // namespace scouter
