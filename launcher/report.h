// `scouter report DIR...`: every run found under the folders, summarised per dataset and setting
// (the run name without its _seedN suffix) as mean ± std over seeds, then run by run with its
// state (incomplete and failed runs are listed, never dropped), then the explanation metrics of
// the runs that `scouter explain` has seen, per dataset, setting and method, and last the
// published numbers beside ours (launcher/report_reference.h).
#pragma once

#include <string>
#include <vector>

namespace scouter {

struct ReportOptions {
  bool html = false;           // also write report.html (launcher/report_html.h)
  std::string reference = {};  // reference file (common/reference_values.h); empty: built in
};

// Returns the Markdown report; writes report.csv (runs), report_settings.csv (settings),
// report_metrics.csv (explanation metrics), report_reference.csv (published numbers beside ours),
// curves.svg and, with options.html, report.html into the first folder. A wrong reference file
// is a UserError before anything is written.
std::string report_table(const std::vector<std::string>& dirs, const ReportOptions& options = {});

}  // namespace scouter
