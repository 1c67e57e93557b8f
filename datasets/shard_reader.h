// Opens a split's shards, checks they form one consistent, complete split, and serves samples.
// Each shard's data is read into memory the first time one of its samples is asked for
// (thread-safe), so a rank only loads the shards it touches.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "datasets/shard_format.h"

namespace scouter {

class ShardSet {
 public:
  // Throws UserError naming the folder or the file when shards are missing, incomplete,
  // inconsistent, of an unknown format version, unreadable, or their labels fail their checksum.
  // Shards of format version 1 (no checksums) load with one warning per process.
  static std::shared_ptr<ShardSet> open(const std::string& dir, const std::string& split);

  // Split-wide metadata (count = total_count; per-file fields of shard 0; format_version: the
  // oldest of the files).
  const ShardMeta& meta() const { return meta_; }
  int64_t size() const { return meta_.total_count; }
  int64_t sample_bytes() const { return meta_.channels * meta_.height * meta_.width; }
  const std::vector<std::string>& paths() const { return paths_; }
  // Split-wide index of each shard file's first sample, in file order.
  std::vector<int64_t> shard_firsts() const;
  // Reads shard `shard`'s data from `path` (a verified node-local copy, datasets/staging.h)
  // instead of the shared file, if it has not been loaded yet.
  void use_local_copy(int64_t shard, const std::string& path);

  // All labels of the split (read at open, validated against num_classes).
  const std::vector<int64_t>& labels() const { return labels_; }
  // Pointer to sample i's C*H*W bytes; loads its shard on first use. A chunk that fails its
  // checksum is a UserError naming the shard, 'images' or 'boxes' and the rows.
  const uint8_t* image(int64_t i);
  // Box of sample i (x, y, w, h), or all -1 when the split has none.
  std::vector<float> box(int64_t i);

 private:
  struct Shard {
    std::string path;
    std::string read_path;  // a node-local copy to read instead, when staged
    int64_t first = 0, count = 0;
    std::vector<uint8_t> images;  // empty until loaded
    std::vector<float> boxes;
    // Double-checked loading rather than std::call_once: a failed load must leave the shard
    // loadable and wake the other waiters, which call_once does not promise everywhere.
    std::mutex load_mutex;
    std::atomic<bool> loaded{false};
  };
  void ensure_loaded(Shard& s);
  Shard& shard_of(int64_t i);
  void load(Shard& s);

  ShardMeta meta_;
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace scouter
