// `scouter explain RUN --image FILE [FILE ...]`: a trained run's prediction and explanation for
// the user's own JPEG or PNG images (up to 64 megapixels). Each image is decoded, converted and
// resized as `scouter prep` stores the run's dataset (datasets/user_image.h), then given the
// evaluation transform of a validation image (datasets/batch_loader.h eval_transform: img_size,
// normalisation), all from the run's dataset.json (datasets/dataset_info.h: no shards are
// opened, so no dataset folder is needed); class "name"s are display names
// (class_display_name); its maps go through the one post-processing of every method
// (worker/explain/explain_maps.h). Per image a folder RUN/explain/images/<name>/, written under a
// temporary name and renamed when complete (an older folder of the same name is replaced):
//   result.json   {"image": "<file as given>", "run": .., "checkpoint": .., "epoch": ..,
//                  "kind": "scouter+" | "scouter-" | "fc", "created_by": ..,
//                  "source_size": [w, h], "stored_size": [w, h], "input_size": [W, H],
//                  "prediction": {"class": c, "name": .., "probability": p},
//                  "top_k": [{"class": c, "name": .., "probability": p}, ...]  (descending),
//                  "box": null | {"source": [x, y, w, h], "stored": [..], "input": [..]},
//                  "classes": [c, ...]  (the classes explained),
//                  "methods": {"<method>": [{"class": c, "name": .., "picture": "<png>",
//                                            "<metric>": v | null, ...}, ...], ...},
//                    with the metrics measured from the map alone (the table's of_maps rows,
//                    worker/explain/metric_spec.h: area, precision; null without a box)
//                  "settings": {"img_size": .., "dataset_dir": .., "map_postprocessing": ..,
//                               "grad_min_level": .. | null, "top_k": ..}}
//   image.png                    the input as the model saw it (input size, before normalisation)
//   <method>_class<c>.png        class c's map over the image (jet at alpha 0.4)
//   maps.h5                      /classes int64 [T], /<method> float32 [T, H, W]: the maps the
//                                numbers were measured on (0..1, input resolution)
// <name> is the file's name with characters other than letters, digits, '.', '-', '_' made '_';
// a second image of the same name in one command gets "-2", a third "-3", and so on.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "datasets/user_image.h"
#include "worker/explain/explain_record.h"

namespace scouter {

struct ImageExplainOptions {
  std::vector<std::string> images;
  std::vector<SourceBox> boxes;      // none, one for every image, or one per image (kNoBox: none)
  std::vector<std::string> classes;  // classes explained (indices or names); empty: the predicted
  int64_t top_k = 5;                 // capped at the run's num_classes
};

struct ClassProbability {
  int64_t cls = 0;
  std::string name;
  double probability = 0;
};

struct ImageExplanation {
  std::string image;                  // the file as given
  std::string folder, json;           // RUN/explain/images/<name>, and its result.json
  std::vector<ClassProbability> top;  // top_k classes, descending; top[0] is the prediction
  struct Map {
    std::string method, picture;  // picture: the PNG's path
    int64_t cls = 0;
    // One per row of explain_metric_table() (worker/explain/metric_spec.h): the metrics of the
    // map itself (of_maps) measured, NaN for the others and where there is no value (no box).
    MetricValues values;
    // The value of the metric called `name`; Error when the table has no such metric.
    double value(const std::string& name) const;
  };
  std::vector<Map> maps;
};

// One process (the launcher refuses --image under mpirun). UserError for unreadable images,
// boxes outside their image, a box count that is neither 1 nor the number of images, and unknown
// classes, all before anything is written.
std::vector<ImageExplanation> run_explain_images(const std::string& run_dir,
                                                 const ImageExplainOptions& options,
                                                 const Config& request, const Origins& origins);

}  // namespace scouter
