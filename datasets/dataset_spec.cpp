// The dataset table: one row per dataset the project converts and trains on.
#include "datasets/dataset_spec.h"

#include <iterator>

#include "common/error.h"
#include "common/key_doc.h"
#include "common/text.h"

namespace scouter {

namespace {

// The ImageNet normalisation, which the published code uses for every RGB dataset. Plain arrays:
// a test's registrar may build the table before any other static of this file is initialised.
constexpr double kImageNetMean[] = {0.485, 0.456, 0.406};
constexpr double kImageNetStd[] = {0.229, 0.224, 0.225};

DatasetSpec idx_dataset(const std::string& name, const std::string& dir,
                        std::vector<std::string> class_names, double mean, double std) {
  DatasetSpec d;
  d.name = name;
  d.kind = DatasetKind::kIdx;
  d.channels = 1;
  d.default_dir = dir;
  d.class_names = std::move(class_names);
  d.idx_mean = {mean};
  d.idx_std = {std};
  d.published_name = "MNIST";
  return d;
}

DatasetSpec image_dataset(const std::string& name, const std::string& dir, ImageLayoutFn list) {
  DatasetSpec d;
  d.name = name;
  d.kind = DatasetKind::kImages;
  d.channels = 3;
  d.default_dir = dir;
  d.mean.assign(std::begin(kImageNetMean), std::end(kImageNetMean));
  d.std.assign(std::begin(kImageNetStd), std::end(kImageNetStd));
  d.list = list;
  return d;
}

// The project's rows, in the order the key's description and `scouter keys` list them.
std::deque<DatasetSpec> project_table() {
  DatasetSpec fashion = idx_dataset("FashionMNIST", "data/fashion-mnist",
                                    {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
                                    0.286041, 0.353024);
  fashion.default_src = "/usr/share/datasets/fashion-mnist";
  fashion.source_hint =
      "`apt-get install dataset-fashion-mnist` puts the files in "
      "/usr/share/datasets/fashion-mnist/";
  return {
      idx_dataset("MNIST", "data/mnist", {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
                  0.130660, 0.308108),
      fashion,
      image_dataset("CUB200", "data/cub200", list_cub200),        // cub_layout.cpp
      image_dataset("ConText", "data/context", list_context),     // image_layouts.cpp
      image_dataset("ImageNet", "data/imagenet", list_imagenet),  // imagenet_layout.cpp
  };
}

std::deque<DatasetSpec>& table() {
  static std::deque<DatasetSpec> rows = project_table();
  return rows;
}

// The `dataset` key's description lists the rows (common/config.h describe_key_values).
[[maybe_unused]] const bool kDescribed =
    (describe_key_values("dataset", [] { return join(dataset_names(), ", "); }), true);

}  // namespace

const std::deque<DatasetSpec>& dataset_specs() { return table(); }

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const auto& d : table()) names.push_back(d.name);
  return names;
}

const DatasetSpec* find_dataset(const std::string& name) {
  for (const auto& d : table())
    if (d.name == name) return &d;
  return nullptr;
}

const DatasetSpec& dataset_spec(const std::string& name, const std::string& where) {
  if (const DatasetSpec* d = find_dataset(name)) return *d;
  throw UserError(where + ": unknown dataset '" + name + "'",
                  "valid: " + join(dataset_names(), ", "));
}

void register_dataset(DatasetSpec spec) {
  SCOUTER_CHECK(!spec.name.empty() && find_dataset(spec.name) == nullptr,
                "dataset '" + spec.name + "' is registered twice (or has no name)");
  SCOUTER_CHECK((spec.kind == DatasetKind::kImages) == (spec.list != nullptr),
                "dataset '" + spec.name + "': an image dataset needs its layout, an IDX one none");
  table().push_back(std::move(spec));
}

void check_dataset_key(const Config& cfg, const Origins& origins) {
  if (!find_dataset(cfg.dataset))
    throw invalid_value_error(cfg, origins, "dataset", join(dataset_names(), ", "));
}

}  // namespace scouter
