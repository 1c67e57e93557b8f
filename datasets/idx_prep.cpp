#include "datasets/idx_prep.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "datasets/dataset_spec.h"
#include "datasets/idx_file.h"
#include "datasets/prep_folder.h"
#include "datasets/shard_checksum.h"
#include "datasets/shard_reader.h"
#include "datasets/shard_writer.h"

namespace scouter {
namespace {

struct SplitSources {
  std::string split;           // "train" or "val"
  std::string images, labels;  // paths found
};

std::string source_hint(const std::string& dataset, const std::string& src_dir) {
  const DatasetSpec* spec = find_dataset(dataset);
  if (spec && !spec->source_hint.empty())
    return fmt::format("{}; point the source folder there (now '{}')", spec->source_hint, src_dir);
  return fmt::format("put the four {} IDX files (gzipped or not) into '{}'", dataset, src_dir);
}

std::string find_source(const std::string& dataset, const std::string& src_dir,
                        const std::string& name) {
  std::string plain = src_dir + "/" + name, gz = plain + ".gz";
  if (file_exists(plain)) return plain;
  if (file_exists(gz)) return gz;
  throw UserError(fmt::format("{} file missing: neither '{}' nor '{}' exists", dataset, plain, gz),
                  source_hint(dataset, src_dir));
}

std::string base_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// Shards already in out_dir for exactly these sources (both splits complete, every chunk
// verified), if any. A corrupt or unchecked (format 1) shard means converting again: the whole
// dataset takes seconds.
bool shards_current(const std::string& dataset, const std::string& out_dir,
                    const std::vector<SplitSources>& splits,
                    const std::vector<std::vector<std::string>>& sums, PrepResult* result) {
  std::error_code ec;
  if (!std::filesystem::is_directory(out_dir, ec)) return false;
  for (size_t s = 0; s < splits.size(); ++s) {
    std::shared_ptr<ShardSet> set;
    try {
      set = ShardSet::open(out_dir, splits[s].split);
    } catch (const UserError& e) {
      spdlog::info("converting ({})", e.what());
      return false;
    }
    const ShardMeta& m = set->meta();
    std::vector<std::string> files = {base_name(splits[s].images), base_name(splits[s].labels)};
    if (m.dataset != dataset || m.source_sha256 != sums[s] || m.source_files != files) {
      spdlog::info("converting again: the '{}' shards in '{}' come from other source files",
                   splits[s].split, out_dir);
      return false;
    }
    if (m.format_version < kShardFormatVersion) {
      spdlog::info("converting again: the '{}' shards in '{}' are of format version {}, without "
                   "checksums",
                   splits[s].split, out_dir, m.format_version);
      return false;
    }
    for (const auto& path : set->paths()) {
      try {
        verify_shard(path);
      } catch (const UserError& e) {
        spdlog::warn("converting again: {}", e.what());
        return false;
      }
    }
    (s == 0 ? result->train_paths : result->val_paths) = set->paths();
    (s == 0 ? result->train_count : result->val_count) = set->size();
  }
  return true;
}

struct IdxSplit {
  IdxArray images;
  std::vector<int64_t> labels;
};

IdxSplit read_split(const SplitSources& src, int64_t classes) {
  IdxSplit out;
  out.images = read_idx(src.images, 3);
  IdxArray labels = read_idx(src.labels, 1);
  if (out.images.dims[0] != labels.dims[0])
    throw UserError(fmt::format("'{}' holds {} images but '{}' holds {} labels", src.images,
                                out.images.dims[0], src.labels, labels.dims[0]),
                    "the images and labels files must come from the same distribution");
  if (out.images.dims[0] == 0 || out.images.dims[1] == 0 || out.images.dims[2] == 0)
    throw UserError(fmt::format("'{}' holds no pixels (dimensions {}x{}x{})", src.images,
                                out.images.dims[0], out.images.dims[1], out.images.dims[2]),
                    "re-download the file");
  out.labels.reserve(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= classes)
      throw UserError(fmt::format("'{}': label {} of sample {} is outside 0..{}", src.labels,
                                  labels.data[i], i, classes - 1),
                      fmt::format("this dataset has {} classes; re-download the file", classes));
    out.labels.push_back(labels.data[i]);
  }
  return out;
}

// Mean and standard deviation (population) of pixel / 255, exactly from the byte histogram.
void pixel_stats(const std::vector<uint8_t>& px, double* mean, double* stddev) {
  std::array<uint64_t, 256> hist{};
  for (uint8_t v : px) ++hist[v];
  double n = static_cast<double>(px.size()), sum = 0;
  for (int v = 0; v < 256; ++v) sum += static_cast<double>(hist[v]) * (v / 255.0);
  *mean = sum / n;
  double sq = 0;
  for (int v = 0; v < 256; ++v) {
    double d = v / 255.0 - *mean;
    sq += static_cast<double>(hist[v]) * d * d;
  }
  *stddev = std::sqrt(sq / n);
}

}  // namespace

std::vector<std::string> idx_class_names(const std::string& dataset) {
  const DatasetSpec* spec = find_dataset(dataset);
  if (spec && spec->kind == DatasetKind::kIdx) return spec->class_names;
  std::vector<std::string> idx;
  for (const auto& d : dataset_specs())
    if (d.kind == DatasetKind::kIdx) idx.push_back(d.name);
  throw UserError(fmt::format("dataset '{}' is not an IDX dataset (key `dataset`)", dataset),
                  "IDX datasets: " + join(idx, ", "));
}

PrepResult prep_idx_dataset(const std::string& dataset, const std::string& src_dir,
                            const std::string& out_dir, int64_t shard_size, bool overwrite) {
  std::vector<std::string> class_names = idx_class_names(dataset);
  if (shard_size < 1)
    throw UserError(
        fmt::format("shard_size must be at least 1, got {} (key `shard_size`)", shard_size),
        "shard_size: samples per HDF5 shard, e.g. 10000");
  std::vector<SplitSources> splits = {
      {"train", find_source(dataset, src_dir, "train-images-idx3-ubyte"),
       find_source(dataset, src_dir, "train-labels-idx1-ubyte")},
      {"val", find_source(dataset, src_dir, "t10k-images-idx3-ubyte"),
       find_source(dataset, src_dir, "t10k-labels-idx1-ubyte")}};
  std::vector<std::vector<std::string>> sums;
  for (const auto& s : splits) sums.push_back({sha256_file(s.images), sha256_file(s.labels)});

  claim_output_folder(out_dir, dataset, overwrite);
  PrepResult result;
  if (shards_current(dataset, out_dir, splits, sums, &result)) {
    result.skipped = true;
    spdlog::info("{} shards in '{}' are up to date ({} train, {} val samples); nothing to do",
                 dataset, out_dir, result.train_count, result.val_count);
    return result;
  }

  const auto classes = static_cast<int64_t>(class_names.size());
  IdxSplit train = read_split(splits[0], classes);
  IdxSplit val = read_split(splits[1], classes);
  if (val.images.dims[1] != train.images.dims[1] || val.images.dims[2] != train.images.dims[2])
    throw UserError(fmt::format("'{}' holds {}x{} images but '{}' holds {}x{}", splits[1].images,
                                val.images.dims[1], val.images.dims[2], splits[0].images,
                                train.images.dims[1], train.images.dims[2]),
                    "train and t10k files must come from the same dataset");
  double mean = 0, stddev = 0;
  pixel_stats(train.images.data, &mean, &stddev);

  ShardMeta meta;
  meta.dataset = dataset;
  meta.channels = 1;
  meta.height = train.images.dims[1];
  meta.width = train.images.dims[2];
  meta.num_classes = classes;
  meta.class_names = class_names;
  // The table's normalisation where it gives one, else the train split's own (MNIST's and
  // Fashion-MNIST's are the published constants: 0.1307 / 0.3081, 0.2860 / 0.3530).
  const DatasetSpec& spec = *find_dataset(dataset);
  meta.mean = spec.mean.empty() ? std::vector<double>{mean} : spec.mean;
  meta.std = spec.std.empty() ? std::vector<double>{stddev} : spec.std;
  meta.flip_allowed = false;  // a mirrored digit or garment label is not the same picture

  for (size_t s = 0; s < splits.size(); ++s) {
    const IdxSplit& data = s == 0 ? train : val;
    meta.split = splits[s].split;
    meta.source_files = {base_name(splits[s].images), base_name(splits[s].labels)};
    meta.source_sha256 = sums[s];
    int64_t n = data.images.dims[0];
    std::vector<std::string> paths = write_split(out_dir, meta, n, data.images.data.data(),
                                                 data.labels.data(), nullptr, shard_size);
    spdlog::info("{} {}: {} samples of {}x{} from '{}' into {} shard(s): {} .. {}", dataset,
                 meta.split, n, meta.height, meta.width, splits[s].images, paths.size(),
                 paths.front(), paths.back());
    (s == 0 ? result.train_paths : result.val_paths) = std::move(paths);
    (s == 0 ? result.train_count : result.val_count) = n;
  }
  spdlog::info("{} pixel statistics of the train split (0..1 scale): mean {:.4f}, std {:.4f}",
               dataset, mean, stddev);
  return result;
}

}  // namespace scouter
