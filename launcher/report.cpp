#include "launcher/report.h"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "common/files.h"
#include "common/format.h"
#include "common/progress.h"
#include "common/text.h"
#include "launcher/curves_svg.h"
#include "launcher/report_data.h"
#include "launcher/report_html.h"
#include "launcher/report_reference.h"
#include "launcher/report_provenance.h"
#include "worker/explain/metric_spec.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

std::string parent(const RunRow& r) { return fs::path(r.path).parent_path().string(); }

// Settings: mean ± std over the complete runs of each (dataset, setting).
Table settings_table(const std::vector<RunRow>& rows, std::string& csv,
                     std::vector<std::string>& notes) {
  std::map<std::pair<std::string, std::string>, std::vector<const RunRow*>> groups;
  for (const auto& r : rows) groups[{r.dataset, parent(r) + "\n" + r.setting}].push_back(&r);
  Table t{
      "Settings (mean ± std over the complete runs)",
      {"dataset", "setting", "kind", "runs", "val acc %", "best acc %", "area", "time", "img/s"},
      {}};
  csv =
      "dataset,setting,kind,complete,runs,val_acc_mean,val_acc_std,best_acc_mean,best_acc_std,"
      "area_mean,area_std,seconds_mean,images_per_s_mean\n";
  for (const auto& [key, group] : groups) {
    std::vector<double> acc, best, area, secs, ips;
    for (const auto* r : group) {
      if (r->state != "complete") continue;
      acc.push_back(r->final_acc);
      best.push_back(r->best_acc);
      area.push_back(r->area);
      secs.push_back(r->seconds);
      ips.push_back(r->images_per_s);
    }
    Stats a = stats(acc), b = stats(best), ar = stats(area), s = stats(secs), i = stats(ips);
    const RunRow& first = *group.front();
    std::string setting_cell = first.setting;
    mark_provenance(group, setting_cell, notes);
    t.rows.push_back({key.first, setting_cell, first.kind,
                      str_format("{}/{} complete", acc.size(), group.size()), pm(a, 100, "{:.2f}"),
                      pm(b, 100, "{:.2f}"), pm(ar, 1, "{:.4f}"),
                      s.n ? format_duration(s.mean) : "-", num(i.mean, "{:.0f}")});
    csv += str_format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(key.first),
                      csv_field(first.setting), csv_field(first.kind), acc.size(), group.size(),
                      num(a.mean, "{:.6g}"), num(a.std, "{:.6g}"), num(b.mean, "{:.6g}"),
                      num(b.std, "{:.6g}"), num(ar.mean, "{:.6g}"), num(ar.std, "{:.6g}"),
                      num(s.mean, "{:.1f}"), num(i.mean, "{:.1f}"));
  }
  return t;
}

Table runs_table(const std::vector<RunRow>& rows, std::string& csv) {
  Table t{"Runs",
          {"run", "kind", "val acc %", "best acc %", "area", "epochs", "img/s", "time", "state"},
          {}};
  csv =
      "run,dataset,setting,kind,state,epochs_done,epochs,final_val_acc,best_val_acc,area,"
      "seconds,images_per_s\n";
  for (const auto& r : rows) {
    t.rows.push_back({r.path, r.kind, num(r.final_acc * 100), num(r.best_acc * 100),
                      num(r.area, "{:.4f}"), str_format("{}/{}", r.epochs_done, r.epochs),
                      num(r.images_per_s, "{:.0f}"),
                      std::isfinite(r.seconds) ? format_duration(r.seconds) : "-", r.state});
    csv += str_format("{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(r.path),
                      csv_field(r.dataset), csv_field(r.setting), csv_field(r.kind),
                      csv_field(r.state), r.epochs_done, r.epochs, num(r.final_acc, "{:.6g}"),
                      num(r.best_acc, "{:.6g}"), num(r.area, "{:.6g}"), num(r.seconds, "{:.1f}"),
                      num(r.images_per_s, "{:.1f}"));
  }
  return t;
}

// The fields in which explain settings (metrics.json dumps of ExplainMetrics::settings) differ.
std::vector<std::string> differing_fields(const std::set<std::string>& dumps) {
  std::vector<nlohmann::json> all;
  std::set<std::string> keys;
  for (const auto& d : dumps) {
    all.push_back(nlohmann::json::parse(d));
    for (const auto& [k, v] : all.back().items()) keys.insert(k);
  }
  std::vector<std::string> out;
  for (const auto& k : keys) {
    std::set<std::string> values;
    for (const auto& j : all) values.insert(j.contains(k) ? j[k].dump() : "");
    if (values.size() > 1) out.push_back(k);
  }
  return out;
}

// This run's values of those fields: "images_explained 10, img_size 28" ("unrecorded" where its
// file lacks one).
std::string settings_values(const nlohmann::json& mine, const std::vector<std::string>& fields) {
  std::vector<std::string> parts;
  for (const auto& k : fields)
    parts.push_back(k + " " + (mine.contains(k) ? mine[k].dump() : std::string("unrecorded")));
  return join(parts, ", ");
}

// Explanation metrics: mean ± std over the runs (seeds) of each (dataset, setting, method) that
// were explained with the same settings. Runs of one setting explained differently (images,
// img_size, metric keys, ...) are never pooled: each set of settings gets its own row, its
// setting cell says how it differs, and `notes` says so.
Table metrics_table(const std::vector<RunRow>& rows, std::string& csv,
                    std::vector<std::string>& notes) {
  using Key = std::tuple<std::string, std::string, int, std::string, std::string>;
  std::map<Key, std::vector<const RunRow*>> groups;
  std::map<std::pair<std::string, std::string>, std::set<std::string>> variants;
  for (const auto& r : rows) {
    if (!r.has_explain_metrics) continue;
    const std::string setting = parent(r) + "\n" + r.setting, dump = r.explain.settings.dump();
    variants[{r.dataset, setting}].insert(dump);
    for (const auto& [method, values] : r.explain.methods)
      groups[{r.dataset, setting, method_order(method), method, dump}].push_back(&r);
  }
  for (const auto& [key, dumps] : variants)
    if (dumps.size() > 1)
      notes.push_back(str_format(
          "{}: its runs were explained with different settings ({}); the metrics table shows "
          "one row per settings, not pooled -- explain them alike to compare them.",
          key.second.substr(key.second.find('\n') + 1), join(differing_fields(dumps), ", ")));
  Table t{"Explanation metrics (mean ± std over the runs explained alike; scouter explain)",
          {"dataset", "setting", "kind", "method", "runs", "images"},
          {}};
  csv = "dataset,setting,kind,method,runs,images";
  for (const auto& spec : explain_metric_table()) {
    t.header.push_back(spec.title);
    csv += str_format(",{0}_mean,{0}_std", spec.name);
  }
  csv += "\n";
  for (const auto& [key, group] : groups) {
    const std::string& method = std::get<3>(key);
    const RunRow& first = *group.front();
    const auto& dumps = variants[{std::get<0>(key), std::get<1>(key)}];
    std::string setting =
        dumps.size() > 1
            ? str_format("{} ({})", first.setting,
                         settings_values(first.explain.settings, differing_fields(dumps)))
            : first.setting;
    mark_provenance(group, setting, notes);
    const std::string images = std::to_string(first.explain.images);  // the same in a group
    std::vector<std::string> row = {std::get<0>(key),
                                    setting,
                                    first.kind,
                                    method_label(method),
                                    std::to_string(group.size()),
                                    images};
    std::string line =
        str_format("{},{},{},{},{},{}", csv_field(std::get<0>(key)), csv_field(setting),
                   csv_field(first.kind), method, group.size(), images);
    for (const auto& spec : explain_metric_table()) {
      std::vector<double> xs;
      for (const auto* r : group) xs.push_back(r->explain.methods.at(method).at(spec.name));
      Stats st = stats(xs);
      row.push_back(pm(st, 1, spec.report_format.c_str()));
      line += str_format(",{},{}", num(st.mean, "{:.6g}"), num(st.std, "{:.6g}"));
    }
    t.rows.push_back(std::move(row));
    csv += line + "\n";
  }
  return t;
}

std::vector<Curve> training_curves(const std::vector<RunRow>& rows) {
  std::vector<Curve> curves;
  for (const auto& r : rows) {
    Curve c;
    c.label = r.name;
    for (const auto& m : r.metrics) {
      double e = static_cast<double>(m.value("epoch", int64_t{0}));
      c.loss.emplace_back(e, m.value("train_loss", NAN));
      c.acc.emplace_back(e, m.value("val_acc", NAN));
    }
    curves.push_back(std::move(c));
  }
  return curves;
}

}  // namespace

std::string report_table(const std::vector<std::string>& dirs, const ReportOptions& options) {
  const ReferenceValues reference = report_reference_values(options.reference);
  std::vector<std::string> warnings;
  std::vector<RunRow> rows = read_runs(dirs, warnings);
  std::string settings_csv, runs_csv, metrics_csv, provenance_csv;
  std::vector<std::string> notes;
  Table settings = settings_table(rows, settings_csv, notes);
  Table runs = runs_table(rows, runs_csv);
  Table metrics = metrics_table(rows, metrics_csv, notes);
  Table provenance = provenance_table(rows, provenance_csv);
  std::string out = markdown_table(settings) + "\n" + markdown_table(runs) + "\nprovenance:\n\n" +
                    markdown_table(provenance);
  size_t without = 0;
  for (const auto& r : rows) without += r.has_explain_metrics ? 0 : 1;
  if (without > 0)
    notes.push_back(str_format(
        "{} of {} runs have no explanation metrics; scouter explain RUN_DIR writes them "
        "(RUN_DIR/explain/metrics.json) and the next report includes them.",
        without, rows.size()));
  if (!metrics.rows.empty())
    out += "\nexplanation metrics (mean ± std over the runs of a setting explained alike):\n\n" +
           markdown_table(metrics);
  for (const auto& n : notes) out += "\n" + n + "\n";
  ReferenceComparison compared = compare_with_reference(rows, reference);
  out += "\nreference numbers (ours beside the published ones):\n\n" +
         markdown_table(compared.table);
  for (const auto& n : compared.notes) out += "\n" + n + "\n";
  for (const auto& w : warnings) out += "\nwarning: " + w + "\n";

  std::string where = dirs[0];
  std::string svg = curves_svg(training_curves(rows));
  write_text_file_atomic(where + "/report.csv", runs_csv);
  write_text_file_atomic(where + "/report_settings.csv", settings_csv);
  write_text_file_atomic(where + "/report_metrics.csv", metrics_csv);
  write_text_file_atomic(where + "/report_reference.csv", compared.csv);
  write_text_file_atomic(where + "/report_provenance.csv", provenance_csv);
  write_text_file_atomic(where + "/curves.svg", svg);
  std::string written = str_format(
      "{0}/report.csv, {0}/report_settings.csv, {0}/report_metrics.csv, "
      "{0}/report_reference.csv, {0}/report_provenance.csv, {0}/curves.svg",
      where);
  if (options.html) {
    HtmlReport page{dirs, settings, runs, metrics, notes, warnings, svg, &rows, provenance};
    page.reference = compared.table;
    page.reference_notes = compared.notes;
    write_text_file_atomic(where + "/report.html", report_html(page));
    written += str_format(", {}/report.html", where);
  }
  return out + "\nwritten: " + written + "\n";
}

}  // namespace scouter
