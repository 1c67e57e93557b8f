// What `scouter prep` may do with an output folder that already holds shards: its own dataset's
// are reused or rewritten by the restart logic; another dataset's are never replaced silently.
#pragma once

#include <string>
#include <vector>

namespace scouter {

// Shard files in a folder written for another dataset (attribute `dataset`).
struct ForeignShards {
  std::string dataset;             // the other dataset (of the first file found)
  std::vector<std::string> paths;  // final shards and .part files, any split
};

// Shard files (final or .part) in `dir` whose `dataset` attribute is not `dataset`. Files that
// cannot be read are left to the restart logic and not listed. Nothing when dir does not exist.
ForeignShards find_foreign_shards(const std::string& dir, const std::string& dataset);

// Refuses, with one UserError naming the folder and both datasets, when `dir` holds another
// dataset's shards and `overwrite` is false; with overwrite, removes them (and their
// bad_images.txt) when `remove` is true (rank 0 of a parallel prep; the other ranks only check).
void claim_output_folder(const std::string& dir, const std::string& dataset, bool overwrite,
                         bool remove = true);

}  // namespace scouter
