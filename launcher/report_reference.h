// The report's comparison with published numbers (common/reference_values.h): for each setting of
// the study, every measure the reference entries matching its runs give, as ours (mean ± std over
// the seeds) beside each source's value and the difference, marked where it is beyond the file's
// tolerance. A setting that no entry matches gets one row saying "no reference".
#pragma once

#include <string>
#include <vector>

#include "common/reference_values.h"
#include "launcher/report_data.h"

namespace scouter {

// The measure of a run's accuracy in reference files: summary.json's final_val_acc (the published
// code reports the last epoch's validation accuracy, not the best).
constexpr const char* kAccuracyMeasure = "final_val_acc";

// The mark of a difference beyond the tolerance, after the number in the text and HTML tables.
constexpr const char* kBeyondMark = "✗";

// The reference values the report uses: the file at `path`, or the built-in one when it is empty.
// Measures: kAccuracyMeasure and the explanation metric table; names checked as a run's config.
ReferenceValues report_reference_values(const std::string& path);

struct ReferenceComparison {
  Table table;                     // cells of differences beyond the tolerance are in `marked`
  std::string csv;                 // report_reference.csv
  std::vector<std::string> notes;  // the mark's meaning, the sources, the file's notes
};

// Ours: final_val_acc of complete (or imported and evaluated) runs; the explanation metrics of the
// "slot" method for SCOUTER runs and "gradcam" for FC runs, pooled only over runs explained alike.
ReferenceComparison compare_with_reference(const std::vector<RunRow>& rows,
                                           const ReferenceValues& ref);

// Whether `diff` is beyond `tolerance`; a difference equal to it (within 1e-9, the rounding of
// numbers printed with four decimals) is within.
bool beyond_tolerance(double diff, double tolerance);

}  // namespace scouter
