// `scouter report`: one Markdown table of the runs found under the given folders. A run is a
// folder with config.toml; summary.json marks it complete, otherwise metrics.jsonl says how far
// it got. Incomplete runs are listed with their state, never dropped.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/error.h"
#include "common/files.h"
#include "common/metrics_log.h"
#include "common/progress.h"
#include "launcher/commands.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

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

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.2f}", 100 * v) : "-"; }

}  // namespace

std::string report_table(const std::vector<std::string>& dirs) {
  std::vector<fs::path> runs;
  for (const auto& d : dirs) {
    if (!fs::is_directory(d))
      throw UserError(fmt::format("report: '{}' is not a folder", d), "give run or sweep folders");
    find_runs(d, 3, runs);
  }
  if (runs.empty())
    throw UserError(fmt::format("report: no runs (folders with config.toml) under {}", dirs[0]),
                    "train a run first");
  std::string s =
      "| run | kind | val acc % | best acc % | area | epochs | img/s | time | state |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& run : runs) {
    Config cfg;
    std::string kind = "?";
    try {
      apply_toml_file(cfg, (run / "config.toml").string());
      kind = !cfg.use_slot ? "FC" : (cfg.loss_status > 0 ? "SCOUTER+" : "SCOUTER-");
      kind += " " + cfg.model;
    } catch (const UserError&) {
      kind = "unreadable config";
    }
    auto metrics = read_jsonl((run / "metrics.jsonl").string());
    std::string summary_path = (run / "summary.json").string();
    if (file_exists(summary_path)) {
      auto j = nlohmann::json::parse(read_text_file(summary_path), nullptr, false);
      if (!j.is_discarded()) {
        double area = j.contains("final_val_area") && j["final_val_area"].is_number()
                          ? j["final_val_area"].get<double>() : NAN;
        s += fmt::format("| {} | {} | {} | {} | {} | {} | {:.0f} | {} | complete |\n",
                         run.string(), kind, pct(j.value("final_val_acc", NAN)),
                         pct(j.value("best_val_acc", NAN)),
                         std::isfinite(area) ? fmt::format("{:.4f}", area) : "-",
                         j.value("epochs", int64_t{0}), j.value("train_images_per_s", 0.0),
                         format_duration(j.value("total_seconds", 0.0)));
        continue;
      }
    }
    int64_t done = metrics.empty() ? 0 : metrics.back().value("epoch", int64_t{0});
    double acc = metrics.empty() ? NAN : metrics.back().value("val_acc", NAN);
    s += fmt::format("| {} | {} | {} | - | - | {}/{} | - | - | incomplete |\n", run.string(), kind,
                     pct(acc), done, cfg.epochs);
  }
  return s;
}

}  // namespace scouter
