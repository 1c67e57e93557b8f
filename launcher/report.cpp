// `scouter report`: every run found under the given folders (a run is a folder with
// config.toml; summary.json marks it complete, metrics.jsonl says how far it got), summarised
// per dataset and setting (the run name without its _seedN suffix) as mean ± std over seeds,
// then listed run by run with its state. Incomplete and failed runs are listed, never dropped.
// Writes report.csv (runs), report_settings.csv (settings) and curves.svg next to the first folder.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/config.h"
#include "common/error.h"
#include "common/files.h"
#include "common/metrics_log.h"
#include "common/progress.h"
#include "launcher/commands.h"
#include "launcher/curves_svg.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

struct RunRow {
  std::string path, name, setting, dataset, kind, state;
  int64_t epochs_done = 0, epochs = 0;
  double final_acc = NAN, best_acc = NAN, area = NAN, seconds = NAN, images_per_s = NAN;
  std::vector<nlohmann::json> metrics;
};

void find_runs(const fs::path& dir, int depth, std::vector<fs::path>& out) {
  std::error_code ec;
  if (fs::exists(dir / "config.toml", ec)) {
    out.push_back(dir);
    return;
  }
  if (depth == 0) return;
  std::vector<fs::path> subs;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) subs.push_back(e.path());
  std::sort(subs.begin(), subs.end());
  for (const auto& s : subs) find_runs(s, depth - 1, out);
}

RunRow read_run(const fs::path& run) {
  RunRow r;
  r.path = run.string();
  r.name = run.filename().string();
  static const std::regex seed_suffix("_seed[0-9]+$");
  // Runs of one setting share a folder (the sweep's) and a name up to _seedN.
  r.setting = (run.parent_path().filename() / std::regex_replace(r.name, seed_suffix, "")).string();
  Config cfg;
  try {
    apply_toml_file(cfg, (run / "config.toml").string());
    r.kind = (!cfg.use_slot ? "FC" : (cfg.loss_status > 0 ? "SCOUTER+" : "SCOUTER-")) + std::string(" ") + cfg.model;
    r.dataset = cfg.dataset;
    r.epochs = cfg.epochs;
  } catch (const UserError&) {
    r.kind = "unreadable config";
  }
  r.metrics = read_jsonl((run / "metrics.jsonl").string());
  if (!r.metrics.empty()) {
    r.epochs_done = r.metrics.back().value("epoch", int64_t{0});
    r.final_acc = r.metrics.back().value("val_acc", NAN);
  }
  std::string summary = (run / "summary.json").string();
  auto j = file_exists(summary) ? nlohmann::json::parse(read_text_file(summary), nullptr, false)
                                 : nlohmann::json();
  if (j.is_object() && j.value("complete", false)) {
    r.state = "complete";
    r.final_acc = j.value("final_val_acc", NAN);
    r.best_acc = j.value("best_val_acc", NAN);
    if (j.contains("final_val_area") && j["final_val_area"].is_number()) r.area = j["final_val_area"].get<double>();
    r.seconds = j.value("total_seconds", NAN);
    r.images_per_s = j.value("train_images_per_s", NAN);
    r.epochs_done = j.value("epochs", r.epochs_done);
  } else {
    // The sweep runner leaves train.log; a run that stopped with an error says so there.
    std::string log = file_exists((run / "train.log").string()) ? read_text_file((run / "train.log").string()) : "";
    bool failed = log.find("[error]") != std::string::npos;
    r.state = fmt::format("{} (epoch {}/{})", failed ? "failed" : "incomplete", r.epochs_done, r.epochs);
  }
  return r;
}

std::string num(double v, const char* f = "{:.2f}") {
  return std::isfinite(v) ? fmt::format(fmt::runtime(f), v) : "-";
}

struct Stats {
  double mean = NAN, std = NAN;
  size_t n = 0;
};

// Mean and sample standard deviation (0 for one value) of the finite values.
Stats stats(const std::vector<double>& xs) {
  Stats st;
  std::vector<double> v;
  for (double x : xs)
    if (std::isfinite(x)) v.push_back(x);
  st.n = v.size();
  if (v.empty()) return st;
  st.mean = 0;
  for (double x : v) st.mean += x / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - st.mean) * (x - st.mean);
  st.std = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
  return st;
}

// "90.12 ± 0.34"; "-" when no run has the value.
std::string pm(const Stats& st, double scale, const char* f) {
  if (st.n == 0) return "-";
  return fmt::format(fmt::runtime(std::string(f) + " ± " + f), st.mean * scale, st.std * scale);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string report_table(const std::vector<std::string>& dirs) {
  std::vector<fs::path> paths;
  for (const auto& d : dirs) {
    if (!fs::is_directory(d))
      throw UserError(fmt::format("report: '{}' is not a folder", d), "give run or sweep folders");
    find_runs(d, 3, paths);
  }
  if (paths.empty())
    throw UserError(fmt::format("report: no runs (folders with config.toml) under {}", dirs[0]),
                    "train a run first");
  std::vector<RunRow> rows;
  for (const auto& p : paths) rows.push_back(read_run(p));

  // Settings: mean ± std over the complete runs of each (dataset, setting).
  std::map<std::pair<std::string, std::string>, std::vector<const RunRow*>> groups;
  for (const auto& r : rows) groups[{r.dataset, fs::path(r.path).parent_path().string() + "\n" + r.setting}].push_back(&r);
  std::string out =
      "| dataset | setting | kind | runs | val acc % | best acc % | area | time | img/s |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  std::string settings_csv =
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
    Stats a = stats(acc), b = stats(best), ar = stats(area), t = stats(secs), i = stats(ips);
    const std::string& setting = group.front()->setting;
    out += fmt::format("| {} | {} | {} | {}/{} complete | {} | {} | {} | {} | {} |\n", key.first,
                       setting, group.front()->kind, acc.size(), group.size(), pm(a, 100, "{:.2f}"),
                       pm(b, 100, "{:.2f}"), pm(ar, 1, "{:.4f}"),
                       t.n ? format_duration(t.mean) : "-", num(i.mean, "{:.0f}"));
    settings_csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(key.first),
                                csv_field(setting), csv_field(group.front()->kind), acc.size(),
                                group.size(), num(a.mean, "{:.6g}"), num(a.std, "{:.6g}"),
                                num(b.mean, "{:.6g}"), num(b.std, "{:.6g}"), num(ar.mean, "{:.6g}"),
                                num(ar.std, "{:.6g}"), num(t.mean, "{:.1f}"), num(i.mean, "{:.1f}"));
  }

  out += "\n| run | kind | val acc % | best acc % | area | epochs | img/s | time | state |\n"
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  std::string runs_csv = "run,dataset,setting,kind,state,epochs_done,epochs,final_val_acc,best_val_acc,area,seconds,images_per_s\n";
  for (const auto& r : rows) {
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r.path, r.kind,
                       num(r.final_acc * 100), num(r.best_acc * 100), num(r.area, "{:.4f}"),
                       fmt::format("{}/{}", r.epochs_done, r.epochs), num(r.images_per_s, "{:.0f}"),
                       std::isfinite(r.seconds) ? format_duration(r.seconds) : "-", r.state);
    runs_csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(r.path), csv_field(r.dataset),
                            csv_field(r.setting), csv_field(r.kind), csv_field(r.state), r.epochs_done,
                            r.epochs, num(r.final_acc, "{:.6g}"), num(r.best_acc, "{:.6g}"),
                            num(r.area, "{:.6g}"), num(r.seconds, "{:.1f}"), num(r.images_per_s, "{:.1f}"));
  }

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
  std::string where = dirs[0];
  write_text_file_atomic(where + "/report.csv", runs_csv);
  write_text_file_atomic(where + "/report_settings.csv", settings_csv);
  write_text_file_atomic(where + "/curves.svg", curves_svg(curves));
  out += fmt::format("\nwritten: {0}/report.csv, {0}/report_settings.csv, {0}/curves.svg\n", where);
  return out;
}

}  // namespace scouter
