// The datasets scouter knows, one row each: the values of the `dataset` key and of `scouter prep
// DATASET`, which converter makes their shards and what the layers above need to know of a
// dataset before its shards exist (channels, default folder). datasets/ owns the table and checks
// names against it; common/ names no dataset.
//
// Rows: the project's own are one explicit table in dataset_spec.cpp (static libraries drop
// object files nothing references, so a row in a file of its own could silently vanish from the
// binary); a test adds a row for itself with a DatasetRegistrar in its own file, which the test
// executable links directly. Adding a dataset: docs/architecture.md "Adding a dataset".
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "common/config.h"
#include "datasets/image_layouts.h"

namespace scouter {

enum class DatasetKind {
  kIdx,     // four IDX files, MNIST's format: prep_idx_dataset (datasets/idx_prep.h)
  kImages,  // JPEG/PNG files in a folder layout read by `list`: prep_image_dataset (image_prep.h)
};

// A folder layout: every source image per split with label and box (datasets/image_layouts.h).
using ImageLayoutFn = ImageListing (*)(const std::string& src, const LayoutOptions& opt);

struct DatasetSpec {
  std::string name;  // the `dataset` key's value, `scouter prep NAME`, the shards' `dataset`
  DatasetKind kind = DatasetKind::kImages;
  int64_t channels = 3;     // of its shards: 1 for IDX, 3 for image layouts (decoded to RGB)
  std::string default_dir;  // `scouter prep`'s --out and import's dataset_dir when not given
  std::string default_src;  // `scouter prep`'s --src when not given ("": --src is required)
  // IDX: where the source files come from, told when one is missing ("": put them into --src).
  std::string source_hint;
  // Normalisation written into the shards; empty: the train split's own statistics (IDX).
  std::vector<double> mean, std;
  // IDX: that training split's statistics as prep computes them (6 digits), and the images'
  // side; what a run imported without shards records (datasets/dataset_info.h).
  std::vector<double> idx_mean, idx_std;
  int64_t idx_side = 28;
  // IDX: the class names, label k = class_names[k]. Image layouts: empty (`list` finds them).
  std::vector<std::string> class_names;
  ImageLayoutFn list = nullptr;  // image layouts: reads --src
  // The published train.py's --dataset for these images ("": the same name). Its MNIST loader
  // reads Fashion-MNIST's files too, so FashionMNIST exports as MNIST.
  std::string published_name;
};

// Every row: the project's table in its order, then registered ones. References stay valid.
const std::deque<DatasetSpec>& dataset_specs();
std::vector<std::string> dataset_names();
// The row of `name`, or nullptr.
const DatasetSpec* find_dataset(const std::string& name);
// The row of `name`; UserError "<where>: unknown dataset 'NAME'" listing the names otherwise.
const DatasetSpec& dataset_spec(const std::string& name, const std::string& where);

// Adds a row (a name already in the table is a programming error). For tests; the project's
// rows belong in the table of dataset_spec.cpp.
void register_dataset(DatasetSpec spec);
struct DatasetRegistrar {
  explicit DatasetRegistrar(DatasetSpec spec) { register_dataset(std::move(spec)); }
};

// The config check of the `dataset` key (a common/config.h ConfigCheck): validate's one-line
// error, at the key's origin, listing the table's names.
void check_dataset_key(const Config& cfg, const Origins& origins);

}  // namespace scouter
