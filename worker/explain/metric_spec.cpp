// The table of explanation metrics. A new metric is one row here, its computation in a file of its
// own (declared in metric_batch.h), and its test (docs/architecture.md, "Where things go").
#include "worker/explain/metric_spec.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/format.h"
#include "worker/explain/metric_batch.h"

namespace scouter {
namespace {

using R = MetricReduction;

// Row order is the column order of every file and table. Fields: name, report title, report
// format, reduction, count key, needs boxes, measured with --metrics false, of_maps, of_model.
std::vector<MetricSpec> project_metrics() {
  return {
      {"area", "area", "{:.4f}", R::kMean, "", false, true, area_values, nullptr},
      {"precision", "precision", "{:.4f}", R::kMean, "precision_images", true, false,
       precision_values, nullptr},
      {"insertion_auc", "insertion AUC", "{:.4f}", R::kMean, "", false, false, nullptr,
       insertion_values},
      {"deletion_auc", "deletion AUC", "{:.4f}", R::kMean, "", false, false, nullptr,
       deletion_values},
      {"infidelity", "infidelity", "{:.4g}", R::kMean, "", false, false, nullptr,
       infidelity_values},
      {"sensitivity", "sensitivity", "{:.4g}", R::kMean, "", false, false, nullptr,
       sensitivity_values},
  };
}

std::vector<MetricSpec>& table() {
  static std::vector<MetricSpec> metrics = project_metrics();
  return metrics;
}

}  // namespace

const std::vector<MetricSpec>& explain_metric_table() { return table(); }

ExplainMetricRegistration::ExplainMetricRegistration(MetricSpec spec) : name_(spec.name) {
  SCOUTER_CHECK(!spec.name.empty() && !spec.of_maps != !spec.of_model,
                "an explanation metric needs a name and exactly one computation");
  auto& metrics = table();
  for (const auto& m : metrics)
    if (m.name == spec.name)
      throw Error(str_format("explanation metric '{}' is already in the table", spec.name));
  metrics.push_back(std::move(spec));
}

ExplainMetricRegistration::~ExplainMetricRegistration() {
  auto& metrics = table();
  metrics.erase(std::remove_if(metrics.begin(), metrics.end(),
                               [&](const MetricSpec& m) { return m.name == name_; }),
                metrics.end());
}

MetricSummary reduce_metric(const MetricSpec& spec, const std::vector<double>& values) {
  switch (spec.reduction) {
    case MetricReduction::kMean: {
      double sum = 0;
      int64_t count = 0;
      for (double v : values)
        if (std::isfinite(v)) sum += v, count += 1;
      return {count ? sum / static_cast<double>(count) : NAN, count};
    }
  }
  SCOUTER_CHECK(false, "unknown metric reduction");
  return {NAN, 0};
}

}  // namespace scouter
