// One explained image as `scouter explain` keeps it: which image, its prediction, its box and, per
// method, one value per row of the metric table (worker/explain/metric_spec.h). The ranks gather
// records as a flat buffer of doubles: pack_records / unpack_records are the only code that knows
// that layout. No LibTorch here.
#pragma once

#include <cstdint>
#include <vector>

namespace scouter {

// An object box in input pixels: x, y (top-left corner), w, h. A pixel (row i, column j)
// is inside when its centre (j + 0.5, i + 0.5) lies in [x, x + w) x [y, y + h).
struct Box {
  double x = 0, y = 0, w = 0, h = 0;
  bool valid() const { return w > 0 && h > 0; }
};

// One method's values: one per row of explain_metric_table(), NaN where there is none (not
// measured, or no box).
using MetricValues = std::vector<double>;

struct ExplainRecord {
  int64_t index = 0;                  // split-wide index of the validation image
  int64_t label = 0, pred = 0;        // true and predicted class
  Box box;                            // invalid: the image has none
  std::vector<MetricValues> methods;  // per method (the order of ExplainResults::methods)
};

// The records as one buffer: per record its index, label, pred, box (NaN x 4 when invalid), then
// its values method by method. Every record must have `methods` x `metrics` values.
std::vector<double> pack_records(const std::vector<ExplainRecord>& records, size_t methods,
                                 size_t metrics);
// The inverse; Error when the buffer is not a whole number of such records.
std::vector<ExplainRecord> unpack_records(const std::vector<double>& flat, size_t methods,
                                          size_t metrics);

}  // namespace scouter
