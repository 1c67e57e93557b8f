#include "datasets/shard_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "common/error.h"
#include "common/h5.h"
#include "common/text.h"
#include "datasets/shard_checksum.h"

namespace scouter {
namespace {

// The HDF5 library may be built without thread safety; shards load from the loader's thread
// and the caller's, so every HDF5 call here goes through this lock.
std::mutex& h5_mutex() {
  static std::mutex mu;
  return mu;
}

const char* kRePrepHint = "re-run `scouter prep` for this dataset to rewrite its shards";

UserError corrupt(const std::string& path, const std::string& why) {
  return UserError(fmt::format("shard '{}' is corrupt or unreadable: {}", path, why), kRePrepHint);
}

UserError inconsistent(const std::string& path, const std::string& what, const std::string& found,
                       const std::string& expected, const std::string& first) {
  return UserError(fmt::format("shard '{}' does not match the rest of its split: {} is {}, but {} "
                               "in '{}'",
                               path, what, found, expected, first),
                   "the folder mixes shards of different conversions; " + std::string(kRePrepHint));
}

std::string list_text(const std::vector<std::string>& v) { return "[" + join(v, ", ") + "]"; }
std::string list_text(const std::vector<double>& v) {
  std::vector<std::string> s;
  for (double x : v) s.push_back(fmt::format("{}", x));
  return list_text(s);
}

// Reads one file's metadata and labels, checking what a single file can check on its own.
ShardMeta read_meta(const std::string& path, hid_t f, std::vector<int64_t>* labels) {
  std::string format = h5::has_attr(f, "format") ? h5::read_attr_string(f, "format") : "";
  if (format != kShardFormat)
    throw UserError(fmt::format("'{}' is not a scouter shard (format attribute '{}', expected "
                                "'{}')",
                                path, format, kShardFormat),
                    "keep only files written by `scouter prep` in the dataset folder");
  int64_t version = h5::read_attr_int(f, "format_version");
  if (version < kOldestShardFormatVersion || version > kShardFormatVersion)
    throw UserError(fmt::format("shard '{}' has format_version {}, this build reads versions "
                                "{}..{}",
                                path, version, kOldestShardFormatVersion, kShardFormatVersion),
                    "re-run `scouter prep` with this build to convert the dataset again");
  if (version < kShardFormatVersion) warn_unchecked_shard(path, version);
  ShardMeta m;
  m.format_version = version;
  m.dataset = h5::read_attr_string(f, "dataset");
  m.split = h5::read_attr_string(f, "split");
  m.shard_index = h5::read_attr_int(f, "shard_index");
  m.num_shards = h5::read_attr_int(f, "num_shards");
  m.first_index = h5::read_attr_int(f, "first_index");
  m.total_count = h5::read_attr_int(f, "total_count");
  m.num_classes = h5::read_attr_int(f, "num_classes");
  m.class_names = h5::read_attr_strings(f, "class_names");
  m.mean = h5::read_attr_doubles(f, "mean");
  m.std = h5::read_attr_doubles(f, "std");
  m.flip_allowed = h5::read_attr_int(f, "flip_allowed") != 0;
  m.source_files = h5::read_attr_strings(f, "source_files");
  m.source_sha256 = h5::read_attr_strings(f, "source_sha256");
  m.created_by = h5::read_attr_string(f, "created_by");

  h5::DatasetInfo images = h5::dataset_info(f, "images");
  h5::DatasetInfo label_info = h5::dataset_info(f, "labels");
  if (images.dims.size() != 4 || images.type_class != H5T_INTEGER || images.type_size != 1)
    throw corrupt(path, "/images is not a 4-dimensional uint8 array [n, C, H, W]");
  m.count = static_cast<int64_t>(images.dims[0]);
  m.channels = static_cast<int64_t>(images.dims[1]);
  m.height = static_cast<int64_t>(images.dims[2]);
  m.width = static_cast<int64_t>(images.dims[3]);
  if (label_info.dims != std::vector<hsize_t>{images.dims[0]} ||
      label_info.type_class != H5T_INTEGER)
    throw corrupt(
        path, fmt::format("/labels must be integers of shape [{}] (the /images rows)", m.count));
  m.has_boxes = h5::exists(f, "boxes");
  if (m.has_boxes && h5::dataset_info(f, "boxes").dims != std::vector<hsize_t>{images.dims[0], 4})
    throw corrupt(path, fmt::format("/boxes must have shape [{}, 4]", m.count));
  if (static_cast<int64_t>(m.class_names.size()) != m.num_classes)
    throw corrupt(path, fmt::format("{} class_names for num_classes = {}", m.class_names.size(),
                                    m.num_classes));
  if (static_cast<int64_t>(m.mean.size()) != m.channels ||
      static_cast<int64_t>(m.std.size()) != m.channels)
    throw corrupt(path, fmt::format("mean and std need {} values (one per channel)", m.channels));

  labels->resize(static_cast<size_t>(m.count));
  read_checked(f, path, "labels", H5T_NATIVE_INT64, labels->data());
  for (size_t i = 0; i < labels->size(); ++i) {
    int64_t l = (*labels)[i];
    if (l < 0 || l >= m.num_classes)
      throw UserError(
          fmt::format("shard '{}': sample {} (split-wide {}) has label {}, outside "
                      "0..{}",
                      path, i, m.first_index + static_cast<int64_t>(i), l, m.num_classes - 1),
          kRePrepHint);
  }
  return m;
}

// Fields every file of a split must share with the first one.
void check_consistent(const ShardMeta& m, const ShardMeta& first, const std::string& path,
                      const std::string& first_path) {
  auto same = [&](const std::string& what, const auto& a, const auto& b) {
    if (a != b)
      throw inconsistent(path, what, fmt::format("{}", a), fmt::format("{}", b), first_path);
  };
  same("dataset", m.dataset, first.dataset);
  same("split", m.split, first.split);
  same("num_classes", m.num_classes, first.num_classes);
  same("total_count", m.total_count, first.total_count);
  same("num_shards", m.num_shards, first.num_shards);
  same("the image shape [C, H, W]", fmt::format("[{}, {}, {}]", m.channels, m.height, m.width),
       fmt::format("[{}, {}, {}]", first.channels, first.height, first.width));
  same("flip_allowed", m.flip_allowed, first.flip_allowed);
  same("has /boxes", m.has_boxes, first.has_boxes);
  if (m.class_names != first.class_names)
    throw inconsistent(path, "class_names", list_text(m.class_names), list_text(first.class_names),
                       first_path);
  if (m.mean != first.mean || m.std != first.std)
    throw inconsistent(path, "mean/std", list_text(m.mean) + "/" + list_text(m.std),
                       list_text(first.mean) + "/" + list_text(first.std), first_path);
}

// The shard files of `split` in dir, by index; checks the names form one complete set.
std::vector<std::string> find_shard_files(const std::string& dir, const std::string& split) {
  const std::string hint = fmt::format(
      "convert the dataset first with `scouter prep` (it writes {}-NNNNN-of-NNNNN.h5 files into "
      "the dataset_dir folder)",
      split);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw UserError(fmt::format("dataset folder '{}' does not exist", dir), hint);
  std::map<int64_t, std::string> by_index;
  int64_t declared = -1;
  std::string declared_path;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    int64_t index = 0, count = 0;
    std::string name = entry.path().filename().string();
    if (!parse_shard_name(name, split, &index, &count)) continue;
    std::string path = entry.path().string();
    if (declared >= 0 && count != declared)
      throw UserError(fmt::format("folder '{}' mixes shard sets of the '{}' split: '{}' and '{}'",
                                  dir, split, declared_path, path),
                      "remove the files of the older conversion, or re-run `scouter prep`");
    declared = count;
    declared_path = path;
    if (index >= count || !by_index.emplace(index, path).second)
      throw UserError(fmt::format("shard file name '{}' is invalid or duplicated (index {} of {})",
                                  path, index, count),
                      "remove the file, or re-run `scouter prep`");
  }
  if (ec) throw UserError(fmt::format("cannot list folder '{}': {}", dir, ec.message()), hint);
  if (by_index.empty())
    throw UserError(fmt::format("no '{}' shards in folder '{}'", split, dir), hint);
  std::vector<std::string> paths;
  for (int64_t i = 0; i < declared; ++i) {
    auto it = by_index.find(i);
    if (it == by_index.end())
      throw UserError(fmt::format("split '{}' in '{}' is incomplete: shard '{}' is missing", split,
                                  dir, shard_path(dir, split, i, declared)),
                      "an earlier conversion was interrupted or a file was deleted; re-run "
                      "`scouter prep`");
    paths.push_back(it->second);
  }
  return paths;
}

}  // namespace

std::shared_ptr<ShardSet> ShardSet::open(const std::string& dir, const std::string& split) {
  std::lock_guard<std::mutex> lock(h5_mutex());
  auto set = std::shared_ptr<ShardSet>(new ShardSet());
  set->paths_ = find_shard_files(dir, split);
  ShardMeta first;
  int64_t next_first = 0;
  for (size_t k = 0; k < set->paths_.size(); ++k) {
    const std::string& path = set->paths_[k];
    ShardMeta m;
    std::vector<int64_t> labels;
    try {
      if (!h5::has_metadata_checksums(path)) {  // format 1 or 2: probed in a child first
        warn_unchecked_metadata(path);
        h5::probe_unchecked(path);
      }
      h5::Handle file = h5::open_file(path);
      m = read_meta(path, file.get(), &labels);
    } catch (const UserError&) {
      throw;
    } catch (const Error& e) {
      throw corrupt(path, e.what());
    }
    auto index = static_cast<int64_t>(k);
    if (m.shard_index != index || m.num_shards != static_cast<int64_t>(set->paths_.size()))
      throw corrupt(path, fmt::format("its attributes say shard {} of {}, its name says {} of {}",
                                      m.shard_index, m.num_shards, index, set->paths_.size()));
    if (m.split != split) throw corrupt(path, fmt::format("its split attribute is '{}'", m.split));
    if (k == 0) first = m;
    check_consistent(m, first, path, set->paths_[0]);
    first.format_version = std::min(first.format_version, m.format_version);
    if (m.first_index != next_first)
      throw corrupt(path, fmt::format("first_index is {}, but the shards before it end at {}",
                                      m.first_index, next_first));
    auto shard = std::make_unique<Shard>();
    shard->path = path;
    shard->first = m.first_index;
    shard->count = m.count;
    set->shards_.push_back(std::move(shard));
    set->labels_.insert(set->labels_.end(), labels.begin(), labels.end());
    next_first += m.count;
  }
  if (next_first != first.total_count)
    throw UserError(fmt::format("split '{}' in '{}' holds {} samples, its shards' total_count says "
                                "{}",
                                split, dir, next_first, first.total_count),
                    kRePrepHint);
  set->meta_ = first;
  set->meta_.count = first.total_count;
  return set;
}

ShardSet::Shard& ShardSet::shard_of(int64_t i) {
  if (i < 0 || i >= size())
    throw Error(fmt::format("sample index {} outside the split's 0..{}", i, size() - 1));
  auto it =
      std::upper_bound(shards_.begin(), shards_.end(), i,
                       [](int64_t v, const std::unique_ptr<Shard>& s) { return v < s->first; });
  return **(it - 1);
}

void ShardSet::load(Shard& s) {
  std::lock_guard<std::mutex> lock(h5_mutex());
  const std::string& path = s.read_path.empty() ? s.path : s.read_path;
  h5::Handle file;
  try {
    file = h5::open_file(path);
  } catch (const UserError& e) {
    if (path == s.path) throw;  // one line naming the file already (missing, truncated)
    throw UserError(fmt::format("node-local copy of shard '{}': {}", s.path, e.what()), e.hint());
  }
  try {
    std::vector<uint8_t> images(static_cast<size_t>(s.count * sample_bytes()));
    read_checked(file.get(), path, "images", H5T_NATIVE_UINT8, images.data(), s.path);
    if (meta_.has_boxes) {
      s.boxes.resize(static_cast<size_t>(s.count * 4));
      read_checked(file.get(), path, "boxes", H5T_NATIVE_FLOAT, s.boxes.data(), s.path);
    }
    s.images = std::move(images);
  } catch (const UserError&) {
    throw;  // a failed checksum: one line naming the shard, the dataset and the rows
  } catch (const Error& e) {
    std::string why = e.what();
    if (path != s.path) why = fmt::format("reading its node-local copy '{}': {}", path, why);
    throw corrupt(s.path, why);
  }
}

void ShardSet::ensure_loaded(Shard& s) {
  if (s.loaded.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(s.load_mutex);
  if (s.loaded.load(std::memory_order_relaxed)) return;
  load(s);
  s.loaded.store(true, std::memory_order_release);
}

const uint8_t* ShardSet::image(int64_t i) {
  Shard& s = shard_of(i);
  ensure_loaded(s);
  return s.images.data() + (i - s.first) * sample_bytes();
}

std::vector<float> ShardSet::box(int64_t i) {
  if (!meta_.has_boxes) return {-1.f, -1.f, -1.f, -1.f};
  Shard& s = shard_of(i);
  ensure_loaded(s);
  const float* b = s.boxes.data() + (i - s.first) * 4;
  return {b[0], b[1], b[2], b[3]};
}

void ShardSet::use_local_copy(int64_t shard, const std::string& path) {
  SCOUTER_CHECK(shard >= 0 && shard < static_cast<int64_t>(shards_.size()), "no such shard");
  Shard& s = *shards_[static_cast<size_t>(shard)];
  std::lock_guard<std::mutex> lock(s.load_mutex);
  if (!s.loaded.load(std::memory_order_relaxed)) s.read_path = path;
}

std::vector<int64_t> ShardSet::shard_firsts() const {
  std::vector<int64_t> firsts;
  for (const auto& s : shards_) firsts.push_back(s->first);
  return firsts;
}

}  // namespace scouter
