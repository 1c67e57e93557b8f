// The explanation metrics as one table: for each metric its name in every file, table and log
// line, how it is computed (one function) and reduced over the images, and whether it needs object
// boxes. `scouter explain` (explain.cpp, explain_files.cpp), `explain --image` (explain_image.cpp)
// and `scouter report` (launcher/report*.cpp) iterate this table; none of them names a metric.
// The project's metrics are the explicit rows of metric_spec.cpp; a metric of one's own (a test's)
// is added for a scope with ExplainMetricRegistration. No LibTorch here, so the launcher's report
// reads the table without it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace scouter {

// What a computation gets (worker/explain/metric_batch.h, LibTorch).
struct MapBatch;
struct ModelBatch;

// How one method's per-image values become the one number of metrics.json (on rank 0, over the
// images of every rank in split order, so the number does not depend on how many ranks ran).
enum class MetricReduction {
  kMean,  // mean of the images that have a value (finite); null when none has one
};

struct MetricSpec {
  std::string name;           // key in metrics.json, images.jsonl, result.json and the log line;
                              // report_metrics.csv columns <name>_mean, <name>_std
  std::string title;          // column title of the report's tables ("insertion AUC")
  std::string report_format;  // the report tables' mean ± std cells, str_format style ("{:.4f}")
  MetricReduction reduction = MetricReduction::kMean;
  std::string count_key;     // not empty: metrics.json also counts the images with a value
  bool needs_boxes = false;  // a value only for images with an object box (the others: null)
  bool with_maps = false;    // measured with `explain --metrics false` too (cheap, like the maps)
  // How it is computed: exactly one of the two, per image of the batch (NaN: no value).
  // From the explanation maps (and boxes) alone: explain and explain --image measure it.
  std::function<std::vector<double>(const MapBatch&)> of_maps;
  // With the model (perturbed or re-explained images): explain alone measures it.
  std::function<std::vector<double>(const ModelBatch&)> of_model;
};

// The metrics in order: the project's rows, then the registered ones (in registration order).
const std::vector<MetricSpec>& explain_metric_table();

// Adds `spec` to the table for the object's lifetime (a test's metric). Error when its name is
// already in the table or it has not exactly one computation. Not thread-safe: register before
// explain runs and keep the object until its files are written and read.
class ExplainMetricRegistration {
 public:
  explicit ExplainMetricRegistration(MetricSpec spec);
  ~ExplainMetricRegistration();
  ExplainMetricRegistration(const ExplainMetricRegistration&) = delete;
  ExplainMetricRegistration& operator=(const ExplainMetricRegistration&) = delete;

 private:
  std::string name_;
};

// The values of one method over the images (NaN: no value) reduced as `spec` says, and the count
// of images that have a value.
struct MetricSummary {
  double value;   // NaN when no image has a value
  int64_t count;  // images with a value
};
MetricSummary reduce_metric(const MetricSpec& spec, const std::vector<double>& values);

}  // namespace scouter
