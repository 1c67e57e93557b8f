#include "datasets/shard_writer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/version.h"

namespace scouter {
namespace {

constexpr int64_t kChunkTargetBytes = 64 * 1024;

std::string default_created_by() {
  return fmt::format("scouter {} ({})", SCOUTER_VERSION, SCOUTER_GIT_VERSION);
}

void write_contents(hid_t f, const ShardMeta& meta, const uint8_t* images, const int64_t* labels,
                    const float* boxes, const std::function<void(hid_t)>& extra) {
  auto n = static_cast<hsize_t>(meta.count);
  auto c = static_cast<hsize_t>(meta.channels), h = static_cast<hsize_t>(meta.height),
       w = static_cast<hsize_t>(meta.width);
  int64_t sample = meta.channels * meta.height * meta.width;
  // Whole samples per chunk: a reader of one sample touches one chunk, and tiny images
  // (MNIST's 784 bytes) do not turn into tens of thousands of chunks.
  hsize_t rows =
      static_cast<hsize_t>(std::clamp<int64_t>(kChunkTargetBytes / sample, 1, meta.count));
  h5::write<uint8_t>(f, "images", {n, c, h, w}, images, {rows, c, h, w});
  // One chunk each: chunked datasets carry Fletcher32 (shard_format.h).
  h5::write<int64_t>(f, "labels", {n}, labels, {n});
  if (boxes) h5::write<float>(f, "boxes", {n, 4}, boxes, {n, 4});

  h5::write_attr(f, "format", std::string(kShardFormat));
  h5::write_attr(f, "format_version", kShardFormatVersion);
  h5::write_attr(f, "dataset", meta.dataset);
  h5::write_attr(f, "split", meta.split);
  h5::write_attr(f, "shard_index", meta.shard_index);
  h5::write_attr(f, "num_shards", meta.num_shards);
  h5::write_attr(f, "first_index", meta.first_index);
  h5::write_attr(f, "total_count", meta.total_count);
  h5::write_attr(f, "num_classes", meta.num_classes);
  h5::write_attr(f, "class_names", meta.class_names);
  h5::write_attr(f, "mean", meta.mean);
  h5::write_attr(f, "std", meta.std);
  h5::write_attr(f, "flip_allowed", int64_t{meta.flip_allowed ? 1 : 0});
  h5::write_attr(f, "source_files", meta.source_files);
  h5::write_attr(f, "source_sha256", meta.source_sha256);
  h5::write_attr(f, "created_by", meta.created_by.empty() ? default_created_by() : meta.created_by);
  if (extra) extra(f);
}

// Removes files of an earlier conversion of this split that the new set does not overwrite
// (e.g. after a change of shard_size), so the folder holds exactly one complete split.
void remove_stale_shards(const std::string& dir, const std::string& split,
                         const std::vector<std::string>& keep) {
  std::set<std::string> kept;
  for (const auto& p : keep) kept.insert(std::filesystem::path(p).filename().string());
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    int64_t index = 0, count = 0;
    if (!parse_shard_name(name, split, &index, &count) || kept.count(name)) continue;
    std::error_code rm_ec;
    std::filesystem::remove(entry.path(), rm_ec);
    if (rm_ec)
      throw UserError(fmt::format("cannot remove the stale shard '{}': {}", entry.path().string(),
                                  rm_ec.message()),
                      "delete it by hand; it belongs to an earlier conversion of this split");
    spdlog::info("removed stale shard {}", entry.path().string());
  }
}

}  // namespace

void write_shard(const std::string& path, const ShardMeta& meta, const uint8_t* images,
                 const int64_t* labels, const float* boxes,
                 const std::function<void(hid_t)>& extra) {
  SCOUTER_CHECK(meta.count >= 1, "a shard needs at least one sample");
  SCOUTER_CHECK(meta.channels >= 1 && meta.height >= 1 && meta.width >= 1,
                "a shard needs a positive image shape");
  SCOUTER_CHECK(static_cast<int64_t>(meta.class_names.size()) == meta.num_classes,
                "class_names must have num_classes entries");
  SCOUTER_CHECK(static_cast<int64_t>(meta.mean.size()) == meta.channels &&
                    static_cast<int64_t>(meta.std.size()) == meta.channels,
                "mean and std need one value per channel");
  SCOUTER_CHECK(meta.source_files.size() == meta.source_sha256.size(),
                "source_files and source_sha256 must pair up");
  // Built in memory and written in one piece (temporary name, checked writes, fsync, rename):
  // a full disk is one clear error, never a half-written file under any shard name.
  try {
    h5::Handle file = h5::create_memory_file();
    write_contents(file.get(), meta, images, labels, boxes, extra);
    h5::write_memory_file(file, path);
  } catch (const UserError&) {
    throw;
  } catch (const Error& e) {
    throw UserError(fmt::format("cannot write shard '{}': {}", path, e.what()),
                    "check free space and permissions of the output folder");
  }
}

std::vector<std::string> write_split(const std::string& dir, ShardMeta meta, int64_t n,
                                     const uint8_t* images, const int64_t* labels,
                                     const float* boxes, int64_t shard_size) {
  SCOUTER_CHECK(n >= 1, "a split needs at least one sample");
  SCOUTER_CHECK(shard_size >= 1, "shard_size must be positive");
  ensure_dir(dir);
  int64_t sample = meta.channels * meta.height * meta.width;
  int64_t num_shards = (n + shard_size - 1) / shard_size;
  meta.num_shards = num_shards;
  meta.total_count = n;
  meta.has_boxes = boxes != nullptr;
  std::vector<std::string> paths;
  for (int64_t s = 0; s < num_shards; ++s) {
    meta.shard_index = s;
    meta.first_index = s * shard_size;
    meta.count = std::min(shard_size, n - meta.first_index);
    std::string path = shard_path(dir, meta.split, s, num_shards);
    write_shard(path, meta, images + meta.first_index * sample, labels + meta.first_index,
                boxes ? boxes + meta.first_index * 4 : nullptr);
    spdlog::debug("wrote {} ({} samples from {})", path, meta.count, meta.first_index);
    paths.push_back(std::move(path));
  }
  remove_stale_shards(dir, meta.split, paths);
  return paths;
}

}  // namespace scouter
