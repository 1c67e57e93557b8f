#include "datasets/prep_folder.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "datasets/shard_format.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

// "<split>-NNNNN-of-MMMMM.h5" or the same with ".part" (image prep's unfinished shards).
bool is_shard_file(const std::string& name) {
  std::string base = name;
  if (base.size() > 5 && base.compare(base.size() - 5, 5, ".part") == 0)
    base.resize(base.size() - 5);
  int64_t index = 0, count = 0;
  return parse_shard_name(base, "train", &index, &count) ||
         parse_shard_name(base, "val", &index, &count);
}

// The `dataset` attribute of a shard file, or "" when it cannot be read.
std::string dataset_of(const std::string& path) {
  try {
    h5::probe_unchecked(path);  // an older scouter's file: its metadata read in a child first
    h5::Handle file = h5::open_file(path);
    if (!h5::has_attr(file.get(), "dataset")) return "";
    return h5::read_attr_string(file.get(), "dataset");
  } catch (const Error& e) {
    spdlog::debug("'{}' is unreadable ({}); the restart logic decides about it", path, e.what());
    return "";
  }
}

void remove_or_throw(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec)
    throw UserError(fmt::format("cannot remove '{}': {}", path, ec.message()),
                    "delete the output folder by hand, or choose another --out");
}

}  // namespace

ForeignShards find_foreign_shards(const std::string& dir, const std::string& dataset) {
  ForeignShards found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!is_shard_file(name)) continue;
    std::string other = dataset_of(entry.path().string());
    if (other.empty() || other == dataset) continue;
    if (found.dataset.empty()) found.dataset = other;
    found.paths.push_back(entry.path().string());
  }
  if (ec)
    throw UserError(fmt::format("cannot list the output folder '{}': {}", dir, ec.message()),
                    "check that --out is a readable folder");
  std::sort(found.paths.begin(), found.paths.end());
  return found;
}

void claim_output_folder(const std::string& dir, const std::string& dataset, bool overwrite,
                         bool remove) {
  ForeignShards foreign = find_foreign_shards(dir, dataset);
  if (foreign.paths.empty()) return;
  if (!overwrite)
    throw UserError(
        fmt::format("output folder '{}' holds shards of another dataset, {} ({} file(s), e.g. "
                    "'{}'); prep {} would replace them",
                    dir, foreign.dataset, foreign.paths.size(), foreign.paths.front(), dataset),
        fmt::format("choose another --out for {}, or delete the folder, or pass --overwrite true "
                    "to replace the {} shards",
                    dataset, foreign.dataset));
  if (!remove) return;
  for (const auto& path : foreign.paths) remove_or_throw(path);
  // The skipped-image list of the other dataset's conversion would be read as this one's.
  if (file_exists(dir + "/bad_images.txt")) remove_or_throw(dir + "/bad_images.txt");
  spdlog::warn("--overwrite: removed {} shard file(s) of {} from '{}' to write {} there",
               foreign.paths.size(), foreign.dataset, dir, dataset);
}

}  // namespace scouter
