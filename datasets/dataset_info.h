// What a run keeps of its dataset, so that commands which read no images of the dataset
// (`explain --image`, the report's gallery) need no dataset folder: the stored image form, the
// normalisation and the class names. `scouter train` and `scouter import` write it as
// RUN/dataset.json (atomically; docs/formats.md "Run folder"):
//   {"format": "scouter-run-dataset", "version": 1,
//    "dataset": "MNIST",                  the dataset table's name (the run's `dataset` key)
//    "from": "shards" | "dataset table",  where the values came from
//    "channels": C, "height": H, "width": W,   the stored samples (shard_format.h /images)
//    "num_classes": K,                    classes of the dataset (>= the run's num_classes)
//    "class_names": [K strings],          the shards' class_names (what --classes takes)
//    "class_descriptions": [K strings],   readable names ("" where none: ImageNet's words)
//    "mean": [C], "std": [C],             per-channel normalisation on 0..1 pixels
//    "flip_allowed": bool}
// Every value read back is checked; a wrong file is one UserError naming it and the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "datasets/shard_format.h"

namespace scouter {

constexpr const char* kDatasetInfoFile = "dataset.json";
constexpr const char* kDatasetInfoFormat = "scouter-run-dataset";
constexpr int64_t kDatasetInfoVersion = 1;

struct DatasetInfo {
  std::string dataset, from;
  int64_t channels = 0, height = 0, width = 0, num_classes = 0;
  std::vector<std::string> class_names, class_descriptions;
  std::vector<double> mean, std;
  bool flip_allowed = false;
};

class ShardSet;

// From opened shards: their meta, and the image shards' class_descriptions attribute when the
// first file has it (datasets/image_shards.h).
DatasetInfo dataset_info_from_shards(const ShardSet& shards);

// Without shards (`scouter import` with no dataset folder), from the dataset table
// (datasets/dataset_spec.h): IDX datasets have their size (28 x 28), class names and training
// statistics there; image datasets have ImageNet's normalisation, are stored at `img_size`
// (prep's default 260 when 0) and are named "class 0" .. "class K-1" with K = num_classes.
// nullopt for a row without that normalisation (an IDX row without idx_mean, idx_std); UserError
// for a dataset the table does not know.
std::optional<DatasetInfo> dataset_info_from_table(const std::string& dataset,
                                                   int64_t num_classes, int64_t img_size);

// False for the numbered names ("class 0", ...) of a run imported without shards of an image
// dataset: names that say nothing, which the shards' own names replace where they are read.
bool has_class_names(const DatasetInfo& info);

// The samples' form for the image functions (user_image.h, batch_loader.h eval_transform):
// dataset, channels, size, classes, normalisation, flip_allowed; nothing of files or splits.
ShardMeta shard_meta_of(const DatasetInfo& info);

std::string dataset_info_json(const DatasetInfo& info);
// Parses and checks the text of `path`; UserError "'PATH': <field> ..." when anything is wrong.
DatasetInfo parse_dataset_info(const std::string& text, const std::string& path);

// RUN/dataset.json, written atomically.
void write_dataset_info(const std::string& run_dir, const DatasetInfo& info);
// RUN/dataset.json, or nullopt when the run has none (a run made before it existed). UserError
// when it is there but unreadable or wrong.
std::optional<DatasetInfo> read_dataset_info(const std::string& run_dir);

// Class c as people read it: the stored name with '_' as spaces ("Black footed Albatross"),
// followed by the first of its description's words where there is one ("n01440764 tench");
// the index itself for a class beyond the names.
std::string class_display_name(const DatasetInfo& info, int64_t c);
// The display names of classes 0 .. info.num_classes-1.
std::vector<std::string> class_display_names(const DatasetInfo& info);
// "3 Dress", "0 n01440764 tench": the index and the display name; the display name alone where it
// says no more than the index ("3" of MNIST, "class 3" of an unnamed class).
std::string class_label(const DatasetInfo& info, int64_t c);

}  // namespace scouter
