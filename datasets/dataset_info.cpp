#include "datasets/dataset_info.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "datasets/dataset_spec.h"
#include "datasets/image_prep.h"
#include "datasets/shard_reader.h"

namespace scouter {
namespace {

constexpr int64_t kMaxSide = 1 << 16;  // far above any stored size; a wrong file's ints stop here

// The one error of a wrong dataset.json.
UserError bad_info(const std::string& path, const std::string& what) {
  return UserError(
      str_format("'{}': {}", path, what),
      "scouter train and scouter import write this file; delete it to read the dataset's shards "
      "instead (--dataset_dir DIR), or import the run again");
}

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& path) {
  if (!j.contains(key)) throw bad_info(path, str_format("no \"{}\"", key));
  return j[key];
}

std::string text_field(const nlohmann::json& j, const char* key, const std::string& path) {
  const auto& v = field(j, key, path);
  if (!v.is_string() || v.get<std::string>().empty())
    throw bad_info(path, str_format("\"{}\" must be a non-empty string", key));
  return v.get<std::string>();
}

int64_t int_field(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi,
                  const std::string& path) {
  const auto& v = field(j, key, path);
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
    throw bad_info(
        path, str_format("\"{}\" must be an integer in {}..{}, got {}", key, lo, hi, v.dump()));
  return v.get<int64_t>();
}

std::vector<std::string> strings_field(const nlohmann::json& j, const char* key, size_t n,
                                       const std::string& path) {
  const auto& v = field(j, key, path);
  bool ok = v.is_array() && v.size() == n;
  for (size_t i = 0; ok && i < n; ++i) ok = v[i].is_string();
  if (!ok) throw bad_info(path, str_format("\"{}\" must be a list of {} strings", key, n));
  return v.get<std::vector<std::string>>();
}

// `n` finite numbers; positive ones when `positive`.
std::vector<double> numbers_field(const nlohmann::json& j, const char* key, size_t n, bool positive,
                                  const std::string& path) {
  const auto& v = field(j, key, path);
  bool ok = v.is_array() && v.size() == n;
  for (size_t i = 0; ok && i < n; ++i)
    ok = v[i].is_number() && std::isfinite(v[i].get<double>()) &&
         (!positive || v[i].get<double>() > 0);
  if (!ok)
    throw bad_info(path, str_format("\"{}\" must be a list of {} finite{} numbers (one per "
                                    "channel)",
                                    key, n, positive ? " positive" : ""));
  return v.get<std::vector<double>>();
}

std::vector<std::string> numbered_classes(int64_t n) {
  std::vector<std::string> names;
  for (int64_t c = 0; c < n; ++c) names.push_back(str_format("class {}", c));
  return names;
}

}  // namespace

DatasetInfo dataset_info_from_shards(const ShardSet& shards) {
  const ShardMeta& m = shards.meta();
  DatasetInfo info;
  info.dataset = m.dataset;
  info.from = "shards";
  info.channels = m.channels;
  info.height = m.height;
  info.width = m.width;
  info.num_classes = m.num_classes;
  info.class_names = m.class_names;
  info.mean = m.mean;
  info.std = m.std;
  info.flip_allowed = m.flip_allowed;
  if (!shards.paths().empty()) {
    h5::Handle f = h5::open_file(shards.paths().front());
    if (h5::has_attr(f.get(), "class_descriptions"))
      info.class_descriptions = h5::read_attr_strings(f.get(), "class_descriptions");
  }
  info.class_descriptions.resize(info.class_names.size());
  return info;
}

std::optional<DatasetInfo> dataset_info_from_table(const std::string& dataset,
                                                   int64_t num_classes, int64_t img_size) {
  const DatasetSpec& spec = dataset_spec(dataset, "dataset info");
  DatasetInfo info;
  info.dataset = spec.name;
  info.from = "dataset table";
  info.channels = spec.channels;
  if (spec.kind == DatasetKind::kIdx) {
    info.height = info.width = spec.idx_side;
    info.class_names = spec.class_names.empty() ? numbered_classes(num_classes) : spec.class_names;
    info.mean = spec.idx_mean;
    info.std = spec.idx_std;
  } else {
    info.height = info.width = img_size > 0 ? img_size : ImagePrepOptions{}.img_size;
    info.class_names = numbered_classes(num_classes);
    info.mean = spec.mean;
    info.std = spec.std;
    info.flip_allowed = true;
  }
  info.num_classes = static_cast<int64_t>(info.class_names.size());
  info.class_descriptions.resize(info.class_names.size());
  if (info.mean.size() != static_cast<size_t>(info.channels) ||
      info.std.size() != static_cast<size_t>(info.channels))
    return std::nullopt;
  return info;
}

bool has_class_names(const DatasetInfo& info) {
  return !(info.from == "dataset table" && info.class_names == numbered_classes(info.num_classes));
}

ShardMeta shard_meta_of(const DatasetInfo& info) {
  ShardMeta m;
  m.dataset = info.dataset;
  m.channels = info.channels;
  m.height = info.height;
  m.width = info.width;
  m.num_classes = info.num_classes;
  m.class_names = info.class_names;
  m.mean = info.mean;
  m.std = info.std;
  m.flip_allowed = info.flip_allowed;
  return m;
}

std::string dataset_info_json(const DatasetInfo& info) {
  nlohmann::ordered_json j = {{"format", kDatasetInfoFormat},
                              {"version", kDatasetInfoVersion},
                              {"dataset", info.dataset},
                              {"from", info.from},
                              {"channels", info.channels},
                              {"height", info.height},
                              {"width", info.width},
                              {"num_classes", info.num_classes},
                              {"class_names", info.class_names},
                              {"class_descriptions", info.class_descriptions},
                              {"mean", info.mean},
                              {"std", info.std},
                              {"flip_allowed", info.flip_allowed}};
  // Names are the dataset's bytes: a byte that is not UTF-8 is written as U+FFFD.
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

DatasetInfo parse_dataset_info(const std::string& text, const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw bad_info(path, "not a JSON object");
  if (text_field(j, "format", path) != kDatasetInfoFormat)
    throw bad_info(path, str_format("\"format\" is not \"{}\"", kDatasetInfoFormat));
  int64_t version = int_field(j, "version", 1, 1 << 30, path);
  if (version != kDatasetInfoVersion)
    throw bad_info(path, str_format("version {}; this scouter reads version {}", version,
                                    kDatasetInfoVersion));
  DatasetInfo info;
  info.dataset = text_field(j, "dataset", path);
  info.from = text_field(j, "from", path);
  info.channels = int_field(j, "channels", 1, 3, path);
  if (info.channels == 2) throw bad_info(path, "\"channels\" must be 1 or 3, got 2");
  info.height = int_field(j, "height", 1, kMaxSide, path);
  info.width = int_field(j, "width", 1, kMaxSide, path);
  info.num_classes = int_field(j, "num_classes", 1, 1 << 20, path);
  const auto k = static_cast<size_t>(info.num_classes);
  info.class_names = strings_field(j, "class_names", k, path);
  info.class_descriptions = strings_field(j, "class_descriptions", k, path);
  const auto c = static_cast<size_t>(info.channels);
  info.mean = numbers_field(j, "mean", c, false, path);
  info.std = numbers_field(j, "std", c, true, path);
  const auto& flip = field(j, "flip_allowed", path);
  if (!flip.is_boolean()) throw bad_info(path, "\"flip_allowed\" must be true or false");
  info.flip_allowed = flip.get<bool>();
  return info;
}

void write_dataset_info(const std::string& run_dir, const DatasetInfo& info) {
  write_text_file_atomic(run_dir + "/" + kDatasetInfoFile, dataset_info_json(info));
}

std::optional<DatasetInfo> read_dataset_info(const std::string& run_dir) {
  const std::string path = run_dir + "/" + kDatasetInfoFile;
  if (!file_exists(path)) return std::nullopt;
  std::string text;
  try {
    text = read_text_file(path);
  } catch (const Error& e) {
    throw bad_info(path, e.what());
  }
  return parse_dataset_info(text, path);
}

std::string class_display_name(const DatasetInfo& info, int64_t c) {
  if (c < 0 || c >= static_cast<int64_t>(info.class_names.size())) return std::to_string(c);
  std::string name = info.class_names[static_cast<size_t>(c)];
  for (char& ch : name)
    if (ch == '_') ch = ' ';
  const auto i = static_cast<size_t>(c);
  const std::string desc = i < info.class_descriptions.size() ? info.class_descriptions[i] : "";
  const std::string first = desc.substr(0, desc.find(','));
  return first.empty() ? name : name + " " + first;
}

std::vector<std::string> class_display_names(const DatasetInfo& info) {
  std::vector<std::string> names;
  for (int64_t c = 0; c < info.num_classes; ++c) names.push_back(class_display_name(info, c));
  return names;
}

std::string class_label(const DatasetInfo& info, int64_t c) {
  const std::string index = std::to_string(c);
  const std::string name = class_display_name(info, c);
  return name == index || name == "class " + index ? name : index + " " + name;
}

}  // namespace scouter
