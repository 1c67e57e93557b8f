// What `scouter report` reads: every run under some folders (a run is a folder with config.toml;
// summary.json marks it complete, metrics.jsonl says how far it got, explain/metrics.json holds
// the explanation metrics of `scouter explain`), and the mean ± std that every table shows.
#pragma once

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "launcher/report_provenance.h"

namespace scouter {

// explain/metrics.json of one run (format: worker/explain/explain.h).
struct ExplainMetrics {
  int64_t images = 0;
  // method ("slot", "cam", ...) -> metric (each of explain_metric_table(),
  // worker/explain/metric_spec.h) -> its value over the images; NaN where the file has null.
  std::map<std::string, std::map<std::string, double>> methods;
  // What the numbers depend on besides the run's weights: "settings" without "ranks" (results do
  // not depend on them), plus "images_explained" (the images count). Runs whose settings differ
  // are never pooled (report.cpp); files without a field simply differ from those with it.
  nlohmann::json settings = nlohmann::json::object();
};

struct RunRow {
  std::string path, name, setting, dataset, kind, state;
  int kind_order = 3;  // 0 SCOUTER+, 1 SCOUTER-, 2 FC, 3 unreadable config (gallery order)
  int64_t epochs_done = 0, epochs = 0;
  double final_acc = NAN, best_acc = NAN, area = NAN, seconds = NAN, images_per_s = NAN;
  std::vector<nlohmann::json> metrics;  // metrics.jsonl, one record per epoch
  std::string explain_dir;              // RUN/explain if it exists, else empty
  bool has_explain_metrics = false;     // explain/metrics.json read
  ExplainMetrics explain;
  RunProvenance provenance;             // provenance.json (launcher/report_provenance.h)
};

// Every run under the folders (up to 3 levels down), in path order. Throws UserError when a
// folder is missing or holds no run. A malformed explain/metrics.json does not stop the report
// (one broken explain folder should not hide a whole sweep): the run is listed without metrics
// and `warnings` gets a line naming the file and what is wrong with it; so does a malformed
// provenance.json (the run's provenance is then "malformed", shown as unrecorded).
std::vector<RunRow> read_runs(const std::vector<std::string>& dirs,
                              std::vector<std::string>& warnings);

// Sort key of an explanation method: slot, gradcam, cam, gradcampp, then any other.
int method_order(const std::string& method);
// "SCOUTER slots", "Grad-CAM", "CAM", "Grad-CAM++"; other names as they are.
std::string method_label(const std::string& method);

struct Stats {
  double mean = NAN, std = NAN;
  size_t n = 0;
};
// Mean and sample standard deviation (0 for one value) of the finite values.
Stats stats(const std::vector<double>& xs);
// "90.12 ± 0.34" (values times scale, each in format f); "-" when no value.
std::string pm(const Stats& st, double scale, const char* f);
// v in format f; "-" when not finite.
std::string num(double v, const char* f = "{:.2f}");
std::string csv_field(const std::string& s);

// A table as both outputs (Markdown and HTML) render it.
struct Table {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::set<std::pair<size_t, size_t>> marked = {};  // (row, column) cells report.html highlights
};
std::string markdown_table(const Table& t);

}  // namespace scouter
