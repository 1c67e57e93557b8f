#include "worker/explain/metric_batch.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace scouter {
namespace {

// Runs `compute` as a metric that needs boxes (or not) requires: without any box in the batch it
// is not called; images without one get NaN whatever it returned for them.
template <class Batch, class Fn>
std::vector<double> run(const MetricSpec& spec, const Fn& compute, const Batch& batch, size_t n) {
  SCOUTER_CHECK(compute, "explanation metric '" + spec.name + "' is not of this batch kind");
  SCOUTER_CHECK(batch.boxes.size() == n, "a metric batch needs one box per map");
  const bool any_box =
      std::any_of(batch.boxes.begin(), batch.boxes.end(), [](const Box& b) { return b.valid(); });
  if (spec.needs_boxes && !any_box) return std::vector<double>(n, NAN);
  std::vector<double> values = compute(batch);
  SCOUTER_CHECK(values.size() == n, "explanation metric '" + spec.name +
                                        "' returned a value count other than the batch's");
  if (spec.needs_boxes)
    for (size_t i = 0; i < n; ++i)
      if (!batch.boxes[i].valid()) values[i] = NAN;
  return values;
}

}  // namespace

std::vector<double> measure(const MetricSpec& spec, const MapBatch& batch) {
  return run(spec, spec.of_maps, batch, static_cast<size_t>(batch.maps.size(0)));
}

std::vector<double> measure(const MetricSpec& spec, const ModelBatch& batch) {
  return run(spec, spec.of_model, batch, static_cast<size_t>(batch.images.size(0)));
}

}  // namespace scouter
