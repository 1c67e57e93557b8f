// How image conversion stays restartable and parallel on disk. Each shard of a split is first
// written whole, atomically, as "<split>-NNNNN-of-MMMMM.h5.part", carrying a digest of its
// sources; readers ignore parts. Only when every part of the split exists are the split-wide
// attributes (first_index, total_count, ...) patched in and each part written, in one piece,
// under its final name (the part is then removed), so a folder never shows a complete-looking
// split that is not, and a re-run reuses every shard (part or final) whose source digest matches
// and whose chunks pass their checksums.
//
// Beyond shard_format.h, image shards carry
//   /source_paths   string[n]  each sample's source image, relative to the dataset root
//   /bad_sources    string[k]  "path: reason" of the source images of this shard's range that
//                              were skipped as bad: unreadable, or a box outside the image
//                              (only when k > 0)
//   source_digest   string     SHA-256 of the shard's sources (see image_prep.h), the restart key
//   source_first, source_count int64  the shard's range in the split's source listing
//   bad_count       int64      k
//   pixel_sum, pixel_sumsq float64[3]  sums of pixel/255 and its square over the shard
//   class_descriptions string[num_classes]  readable class names ("" where none)
//   measured_mean, measured_std float64[3]  statistics of the whole train split (0..1 pixels)
//   split_digest    string     digest of the patched split-wide attributes
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/shard_format.h"

namespace scouter {

struct ShardPlan {
  std::string dir, split;
  int64_t index = 0, num_shards = 1;
  int64_t source_first = 0, source_count = 0;  // range in the split's source listing
  std::string digest;                          // of its sources
  std::string final_path() const { return shard_path(dir, split, index, num_shards); }
  std::string part_path() const { return final_path() + ".part"; }
};

// A converted shard, compacted to its good samples.
struct ShardContent {
  int64_t count = 0;
  std::vector<uint8_t> images;  // count x 3 x S x S
  std::vector<int64_t> labels;
  std::vector<float> boxes;  // count x 4, or empty when the split stores no boxes
  std::vector<std::string> source_paths;
  std::vector<std::string> bad;  // "path: reason"
  std::array<double, 3> pixel_sum{}, pixel_sumsq{};
};

// What a finished shard says about itself.
struct ShardStatus {
  bool found = false, is_final = false;
  int64_t count = 0, first_index = -1;
  std::vector<std::string> bad;
  std::array<double, 3> pixel_sum{}, pixel_sumsq{};
  std::string split_digest;  // empty until patched
};

// The shard's final file, else its part, if it is readable, of the current format version and
// its source digest matches; with `verify`, only if every chunk also passes its checksum (a
// corrupt shard is logged and then converted again). Verifying reads the whole shard.
ShardStatus find_finished(const ShardPlan& plan, bool verify = true);

// Writes the part (meta: everything but the per-file and split-wide fields). Throws UserError
// when content holds no sample.
void write_part(const ShardPlan& plan, ShardMeta meta, const ShardContent& content);

// The split-wide attributes, known once every shard of the split is finished.
struct SplitAttrs {
  int64_t total_count = 0;
  std::vector<std::string> source_files, source_sha256, class_descriptions;
  std::vector<double> measured_mean, measured_std;
  std::string digest() const;
};

// Patches the attributes into a finished shard if they differ and gives it its final name
// (patched in memory, written in one piece). Returns true when the file had to change.
bool finalize_shard(const ShardPlan& plan, const ShardStatus& status, int64_t first_index,
                    const SplitAttrs& attrs);

// /source_paths of a shard file (or part).
std::vector<std::string> read_source_paths(const std::string& path);

// Removes what earlier conversions of the split left in dir: shards and parts of another shard
// count, and temporary files of interrupted writes. Returns the number of files removed.
int64_t remove_stale_files(const std::string& dir, const std::string& split, int64_t num_shards);

}  // namespace scouter
