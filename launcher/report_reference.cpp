#include "launcher/report_reference.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "common/error.h"
#include "common/format.h"
#include "common/text.h"
#include "worker/explain/metric_spec.h"
#include "worker/model/backbone_spec.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

std::vector<std::string> measures() {
  std::vector<std::string> out = {kAccuracyMeasure};
  for (const auto& spec : explain_metric_table()) out.push_back(spec.name);
  return out;
}

std::string measure_title(const std::string& measure) {
  if (measure == kAccuracyMeasure) return "val acc (final)";
  for (const auto& spec : explain_metric_table())
    if (spec.name == measure) return spec.title;
  return measure;
}

// A run with the config it was trained with (none when config.toml does not read).
struct ConfiguredRun {
  const RunRow* row = nullptr;
  Config cfg;
  bool readable = false;
};

// Ours for one measure of one run; NaN when the run has none.
double our_value(const ConfiguredRun& run, const std::string& measure) {
  const RunRow& r = *run.row;
  if (measure == kAccuracyMeasure) {
    bool finished = r.state == "complete" || starts_with(r.state, "imported");
    return finished ? r.final_acc : NAN;
  }
  if (!r.has_explain_metrics) return NAN;
  auto method = r.explain.methods.find(run.cfg.use_slot ? "slot" : "gradcam");
  if (method == r.explain.methods.end()) return NAN;
  auto v = method->second.find(measure);
  return v == method->second.end() ? NAN : v->second;
}

// The runs of one setting that one entry matches, split by how they were explained (accuracy:
// one part). Each part is one row per measure.
std::vector<std::vector<const ConfiguredRun*>> parts_for(
    const std::vector<const ConfiguredRun*>& runs, const std::string& measure) {
  std::map<std::string, std::vector<const ConfiguredRun*>> by_settings;
  for (const auto* run : runs)
    by_settings[measure == kAccuracyMeasure || !run->row->has_explain_metrics
                    ? std::string()
                    : run->row->explain.settings.dump()]
        .push_back(run);
  std::vector<std::vector<const ConfiguredRun*>> parts;
  for (auto& [dump, part] : by_settings) parts.push_back(std::move(part));
  return parts;
}

class Builder {
 public:
  explicit Builder(const ReferenceValues& ref) : ref_(ref) {
    out_.table = {str_format("Reference numbers (within ±{} of a source counts as reproduced)",
                             num(ref.tolerance, "{:g}")),
                  {"dataset", "setting", "kind", "measure", "runs", "ours"},
                  {}};
    out_.csv = "dataset,setting,kind,measure,runs,ours_mean,ours_std,tolerance,reference_setting";
    for (const auto& [source, cite] : ref.sources) {
      out_.table.header.push_back(source);
      out_.table.header.push_back("Δ " + source);
      out_.csv += str_format(",{0},{0}_diff,{0}_beyond", source);
    }
    out_.csv += "\n";
  }

  // Rows in measure order (accuracy first), each from the entry that gives it.
  void setting(const std::string& dataset, const std::string& label,
               const std::vector<ConfiguredRun>& runs) {
    std::vector<std::vector<const ConfiguredRun*>> matched(ref_.entries.size());
    bool any = false;
    for (size_t e = 0; e < ref_.entries.size(); ++e) {
      for (const auto& run : runs)
        if (run.readable && reference_matches(ref_.entries[e], run.cfg)) matched[e].push_back(&run);
      any = any || !matched[e].empty();
    }
    if (!any) return no_reference(dataset, label, runs);
    for (const auto& measure : measures())
      for (size_t e = 0; e < ref_.entries.size(); ++e) {
        if (matched[e].empty() || !gives(ref_.entries[e], measure)) continue;
        auto parts = parts_for(matched[e], measure);
        for (size_t k = 0; k < parts.size(); ++k) {
          std::string shown = label;
          if (parts.size() > 1)
            shown += str_format(" (explained alike: set {} of {}, {} images)", k + 1, parts.size(),
                                parts[k].front()->row->explain.images);
          row(dataset, shown, ref_.entries[e], measure, parts[k]);
        }
      }
  }

  ReferenceComparison finish() {
    out_.notes.push_back(str_format(
        "{} marks a difference (ours − source) beyond ±{}; reference values from {}; ours: mean "
        "± std over the seeds (accuracy: final val acc of finished runs; metrics: SCOUTER "
        "slots, or Grad-CAM for FC).",
        kBeyondMark, num(ref_.tolerance, "{:g}"), ref_.source));
    for (const auto& [source, cite] : ref_.sources) out_.notes.push_back(source + ": " + cite);
    for (const auto& note : ref_.notes) out_.notes.push_back(note);
    return std::move(out_);
  }

 private:
  static bool gives(const ReferenceEntry& entry, const std::string& measure) {
    for (const auto& [source, values] : entry.values)
      if (values.count(measure)) return true;
    return false;
  }

  void row(const std::string& dataset, const std::string& label, const ReferenceEntry& entry,
           const std::string& measure, const std::vector<const ConfiguredRun*>& runs) {
    std::vector<double> xs;
    for (const auto* run : runs) xs.push_back(our_value(*run, measure));
    const Stats ours = stats(xs);
    const std::string kind = runs.front()->row->kind;
    std::vector<std::string> cells = {dataset,
                                      label,
                                      kind,
                                      measure_title(measure),
                                      std::to_string(ours.n),
                                      pm(ours, 1, "{:.4f}")};
    std::string line = str_format("{},{},{},{},{},{},{},{},{}", csv_field(dataset),
                                  csv_field(label), csv_field(kind), measure, ours.n,
                                  num(ours.mean, "{:.6g}"), num(ours.std, "{:.6g}"),
                                  num(ref_.tolerance, "{:g}"), csv_field(setting_text(entry)));
    for (const auto& [source, cite] : ref_.sources) {
      auto values = entry.values.find(source);
      double theirs = NAN;
      if (values != entry.values.end() && values->second.count(measure))
        theirs = values->second.at(measure);
      const double diff = ours.mean - theirs;
      const bool beyond = std::isfinite(diff) && beyond_tolerance(diff, ref_.tolerance);
      if (beyond) out_.table.marked.insert({out_.table.rows.size(), cells.size() + 1});
      cells.push_back(num(theirs, "{:.4f}"));
      cells.push_back(std::isfinite(diff)
                          ? str_format("{:+.4f}{}", diff,
                                       beyond ? std::string(" ") + kBeyondMark : std::string())
                          : "-");
      line += str_format(",{},{},{}", num(theirs, "{:.6g}"), num(diff, "{:.6g}"),
                         std::isfinite(diff) ? (beyond ? "true" : "false") : "");
    }
    out_.table.rows.push_back(std::move(cells));
    out_.csv += line + "\n";
  }

  void no_reference(const std::string& dataset, const std::string& label,
                    const std::vector<ConfiguredRun>& runs) {
    std::vector<std::string> cells = {
        dataset, label, runs.front().row->kind, "no reference", std::to_string(runs.size()), "-"};
    std::string line =
        str_format("{},{},{},,{},,,{},none", csv_field(dataset), csv_field(label),
                   csv_field(runs.front().row->kind), runs.size(), num(ref_.tolerance, "{:g}"));
    for (size_t s = 0; s < ref_.sources.size(); ++s) {
      cells.insert(cells.end(), {"-", "-"});
      line += ",,,";
    }
    out_.table.rows.push_back(std::move(cells));
    out_.csv += line + "\n";
  }

  const ReferenceValues& ref_;
  ReferenceComparison out_;
};

}  // namespace

bool beyond_tolerance(double diff, double tolerance) { return std::fabs(diff) > tolerance + 1e-9; }

ReferenceValues report_reference_values(const std::string& path) {
  ReferenceVocabulary vocabulary{measures(), check_table_keys};
  if (!path.empty()) return load_reference_file(path, vocabulary);
  return parse_reference(builtin_reference_text(), builtin_reference_name(), vocabulary);
}

ReferenceComparison compare_with_reference(const std::vector<RunRow>& rows,
                                           const ReferenceValues& ref) {
  // Settings as the settings table groups them: dataset, then the sweep folder and run name.
  std::map<std::pair<std::string, std::string>, std::vector<ConfiguredRun>> groups;
  for (const auto& r : rows) {
    ConfiguredRun run{&r, Config{}, false};
    try {
      apply_toml_file(run.cfg, (fs::path(r.path) / "config.toml").string());
      run.readable = true;
    } catch (const UserError&) {
      // The runs table already says "unreadable config"; such a run has no reference.
    }
    const std::string key = fs::path(r.path).parent_path().string() + "\n" + r.setting;
    groups[{r.dataset, key}].push_back(std::move(run));
  }
  Builder builder(ref);
  for (const auto& [key, runs] : groups)
    builder.setting(key.first, runs.front().row->setting, runs);
  return builder.finish();
}

}  // namespace scouter
