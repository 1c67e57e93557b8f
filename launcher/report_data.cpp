#include "launcher/report_data.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "common/config.h"
#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/metrics_log.h"
#include "common/text.h"
#include "worker/explain/metric_spec.h"

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

// Throws nlohmann::json::exception (or std::runtime_error) when the file does not follow the
// format of worker/explain/explain.h.
ExplainMetrics parse_explain_metrics(const std::string& text) {
  auto j = nlohmann::json::parse(text);
  if (!j.is_object()) throw std::runtime_error("not a JSON object");
  ExplainMetrics m;
  m.images = j.at("images").get<int64_t>();
  if (j.contains("settings") && j["settings"].is_object()) m.settings = j["settings"];
  m.settings.erase("ranks");
  m.settings["images_explained"] = m.images;
  const auto& methods = j.at("methods");
  if (!methods.is_object() || methods.empty())
    throw std::runtime_error("\"methods\" is not a non-empty object");
  for (const auto& [method, values] : methods.items()) {
    if (!values.is_object())
      throw std::runtime_error(str_format("method \"{}\" is not an object", method));
    auto& out = m.methods[method];
    for (const auto& spec : explain_metric_table()) {
      const std::string& key = spec.name;
      auto it = values.find(key);
      if (it == values.end())
        throw std::runtime_error(str_format("method \"{}\" has no \"{}\"", method, key));
      if (!it->is_null() && !it->is_number())
        throw std::runtime_error(str_format("\"{}\".\"{}\" is not a number", method, key));
      out[key] = it->is_null() ? NAN : it->get<double>();
    }
  }
  return m;
}

RunRow read_run(const fs::path& run, std::vector<std::string>& warnings) {
  RunRow r;
  r.path = run.string();
  r.name = run.filename().string();
  static const std::regex seed_suffix("_seed[0-9]+$");
  // Runs of one setting share a folder (the sweep's) and a name up to _seedN.
  r.setting = (run.parent_path().filename() / std::regex_replace(r.name, seed_suffix, "")).string();
  Config cfg;
  try {
    apply_toml_file(cfg, (run / "config.toml").string());
    r.kind_order = !cfg.use_slot ? 2 : (cfg.loss_status > 0 ? 0 : 1);
    r.kind = std::string(r.kind_order == 2 ? "FC" : (r.kind_order == 0 ? "SCOUTER+" : "SCOUTER-")) +
             " " + cfg.model;
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
    if (j.contains("final_val_area") && j["final_val_area"].is_number())
      r.area = j["final_val_area"].get<double>();
    r.seconds = j.value("total_seconds", NAN);
    r.images_per_s = j.value("train_images_per_s", NAN);
    r.epochs_done = j.value("epochs", r.epochs_done);
  } else if (file_exists((run / "import.json").string())) {
    // `scouter import`: trained elsewhere, so no training log; its accuracy is what
    // `scouter evaluate` measured, if it has run.
    auto ij = nlohmann::json::parse(read_text_file((run / "import.json").string()), nullptr, false);
    r.epochs_done = ij.is_object() ? ij.value("epochs_completed", int64_t{0}) : 0;
    std::string val = (run / "eval" / "val.json").string();
    auto ev = file_exists(val) ? nlohmann::json::parse(read_text_file(val), nullptr, false)
                               : nlohmann::json();
    if (ev.is_object()) {
      if (ev.contains("acc") && ev["acc"].is_number()) r.final_acc = ev["acc"].get<double>();
      if (ev.contains("area") && ev["area"].is_number()) r.area = ev["area"].get<double>();
    }
    r.state = str_format("imported (epoch {}){}", r.epochs_done,
                         ev.is_object() ? ", evaluated" : "; scouter evaluate gives its accuracy");
  } else {
    // The sweep runner leaves train.log; a run that stopped with an error says so there.
    std::string log_path = (run / "train.log").string();
    std::string log = file_exists(log_path) ? read_text_file(log_path) : "";
    bool failed = log.find("[error]") != std::string::npos;
    r.state =
        str_format("{} (epoch {}/{})", failed ? "failed" : "incomplete", r.epochs_done, r.epochs);
  }

  r.provenance = read_provenance(r.path, warnings);
  std::error_code ec;
  if (fs::is_directory(run / "explain", ec)) r.explain_dir = (run / "explain").string();
  std::string metrics_json = (run / "explain" / "metrics.json").string();
  if (file_exists(metrics_json)) {
    try {
      r.explain = parse_explain_metrics(read_text_file(metrics_json));
      r.has_explain_metrics = true;
    } catch (const std::exception& e) {
      warnings.push_back(
          str_format("{}: malformed ({}); the run is left out of the metrics table -- rerun "
                     "scouter explain {}",
                     metrics_json, e.what(), r.path));
    }
  }
  return r;
}

}  // namespace

std::vector<RunRow> read_runs(const std::vector<std::string>& dirs,
                              std::vector<std::string>& warnings) {
  std::vector<fs::path> paths;
  for (const auto& d : dirs) {
    if (!fs::is_directory(d))
      throw UserError(str_format("report: '{}' is not a folder", d), "give run or sweep folders");
    find_runs(d, 3, paths);
  }
  if (paths.empty())
    throw UserError(str_format("report: no runs (folders with config.toml) under {}", dirs[0]),
                    "train a run first");
  std::vector<RunRow> rows;
  for (const auto& p : paths) rows.push_back(read_run(p, warnings));
  return rows;
}

int method_order(const std::string& method) {
  static const std::vector<std::string> kOrder = {"slot", "gradcam", "cam", "gradcampp"};
  auto it = std::find(kOrder.begin(), kOrder.end(), method);
  return static_cast<int>(it - kOrder.begin());
}

std::string method_label(const std::string& method) {
  if (method == "slot") return "SCOUTER slots";
  if (method == "gradcam") return "Grad-CAM";
  if (method == "cam") return "CAM";
  if (method == "gradcampp") return "Grad-CAM++";
  return method;
}

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

std::string pm(const Stats& st, double scale, const char* f) {
  if (st.n == 0) return "-";
  return str_format(std::string(f) + " ± " + f, st.mean * scale, st.std * scale);
}

std::string num(double v, const char* f) {
  return std::isfinite(v) ? str_format(f, v) : "-";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string markdown_table(const Table& t) {
  std::string out = "| " + join(t.header, " | ") + " |\n|";
  for (size_t i = 0; i < t.header.size(); ++i) out += " --- |";
  out += "\n";
  for (const auto& row : t.rows) out += "| " + join(row, " | ") + " |\n";
  return out;
}

}  // namespace scouter
