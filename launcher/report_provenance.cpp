#include "launcher/report_provenance.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/files.h"
#include "common/format.h"
#include "common/text.h"
#include "launcher/report_data.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

using nlohmann::json;

std::string text_of(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return {};
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

// "2 ranks on 1 host", "3 ranks on 2 hosts (2+1)" from {"host": ranks}.
std::string layout(const json& hosts) {
  int ranks = 0;
  std::vector<std::string> per;
  for (const auto& [h, n] : hosts.items()) {
    ranks += n.get<int>();
    per.push_back(std::to_string(n.get<int>()));
  }
  std::string s = str_format("{} rank{} on {} host{}", ranks, ranks == 1 ? "" : "s", hosts.size(),
                             hosts.size() == 1 ? "" : "s");
  std::set<std::string> distinct(per.begin(), per.end());
  return distinct.size() > 1 ? s + " (" + join(per, "+") + ")" : s;
}

std::string host_list(const json& hosts) {
  std::vector<std::string> parts;
  for (const auto& [h, n] : hosts.items()) parts.push_back(str_format("{}:{}", h, n.get<int>()));
  return join(parts, " ");
}

// One attempt's value of each field ("" where it records none). Throws json's exceptions on a
// field of the wrong type.
std::map<std::string, std::string> attempt_values(const json& a) {
  std::map<std::string, std::string> v;
  const std::string version = text_of(a, "scouter_version"), commit = text_of(a, "scouter_commit");
  if (!version.empty()) v["scouter"] = commit.empty() ? version : version + " (" + commit + ")";
  for (const char* k : {"compiler", "libtorch", "cudnn", "nccl", "mpi", "device"}) v[k] = text_of(a, k);
  v["cuda"] = text_of(a, "cuda_runtime");
  if (a.contains("hosts") && a["hosts"].is_object()) {
    v["layout"] = layout(a["hosts"]);
    v["hosts"] = host_list(a["hosts"]);
  }
  if (a.contains("data_fingerprint") && a["data_fingerprint"].is_object())
    v["data"] = text_of(a["data_fingerprint"], "sha256");
  v["pretrained"] = text_of(a, "pretrained_sha256");
  v["pre_checkpoint"] = text_of(a, "pre_checkpoint_sha256");
  v["imported"] = text_of(a, "imported_sha256");
  return v;
}

std::string short_digest(const std::string& v) {
  if (v.size() == 64 && v.find_first_not_of("0123456789abcdef") == std::string::npos)
    return v.substr(0, 12);
  return v;
}

std::string setting_key(const RunRow& r) {
  return r.dataset + "\n" + fs::path(r.path).parent_path().string() + "\n" + r.setting;
}

// The compared fields in which the recorded runs of `pooled` differ, each with its values.
std::vector<std::pair<std::string, std::map<std::string, std::vector<std::string>>>> differing(
    const std::vector<const RunRow*>& pooled) {
  std::vector<std::pair<std::string, std::map<std::string, std::vector<std::string>>>> out;
  for (const auto& f : provenance_fields()) {
    if (!f.compared) continue;
    std::map<std::string, std::vector<std::string>> runs_by_value;
    for (const RunRow* r : pooled)
      if (r->provenance.state == "recorded") runs_by_value[r->provenance.value(f.name)].push_back(r->name);
    if (runs_by_value.size() > 1) out.emplace_back(f.name, std::move(runs_by_value));
  }
  return out;
}

}  // namespace

const std::vector<ProvenanceField>& provenance_fields() {
  static const std::vector<ProvenanceField> kFields = {
      {"scouter", "scouter", true},       {"compiler", "compiler", true},
      {"libtorch", "LibTorch", true},     {"cuda", "CUDA", true},
      {"cudnn", "cuDNN", true},           {"nccl", "NCCL", true},
      {"mpi", "MPI", true},               {"device", "device", true},
      {"layout", "layout", true},          {"hosts", "hosts", false},
      {"data", "data fingerprint", true}, {"pretrained", "pretrained SHA-256", true},
      {"pre_checkpoint", "use_pre source SHA-256", false},
      {"imported", "imported SHA-256", false}};
  return kFields;
}

std::string RunProvenance::value(const std::string& field) const {
  if (state != "recorded") return "unrecorded";
  auto it = values.find(field);
  return it == values.end() ? "-" : it->second;
}

RunProvenance read_provenance(const std::string& run, std::vector<std::string>& warnings) {
  RunProvenance p;
  const std::string path = run + "/provenance.json";
  if (!file_exists(path)) return p;
  try {
    json j = json::parse(read_text_file(path));
    if (!j.is_object() || j.value("format", "") != "scouter-provenance")
      throw std::runtime_error("not a scouter-provenance object");
    const json& attempts = j.at("attempts");
    if (!attempts.is_array() || attempts.empty())
      throw std::runtime_error("\"attempts\" is not a non-empty array");
    std::map<std::string, std::vector<std::string>> distinct;
    for (const auto& a : attempts) {
      if (!a.is_object()) throw std::runtime_error("an attempt is not an object");
      for (const auto& [k, v] : attempt_values(a)) {
        auto& seen = distinct[k];
        if (!v.empty() && std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(v);
      }
    }
    for (const auto& [k, vs] : distinct)
      if (!vs.empty()) p.values[k] = join(vs, " + ");
    p.attempts = static_cast<int>(attempts.size());
    p.state = "recorded";
  } catch (const std::exception& e) {
    p = RunProvenance{};
    p.state = "malformed";
    warnings.push_back(str_format("{}: malformed ({}); the run's provenance is shown as unrecorded "
                                  "and left out of the comparison",
                                  path, e.what()));
  }
  return p;
}

std::string provenance_differences(const std::vector<const RunRow*>& pooled) {
  std::vector<std::string> parts;
  for (const auto& [field, by_value] : differing(pooled)) {
    std::vector<std::string> values;
    for (const auto& [v, runs] : by_value) values.push_back(str_format("{} ({})", v, join(runs, ", ")));
    parts.push_back(field + " " + join(values, ", "));
  }
  return join(parts, "; ");
}

void mark_provenance(const std::vector<const RunRow*>& pooled, std::string& setting_cell,
                     std::vector<std::string>& notes) {
  const std::string diff = provenance_differences(pooled);
  if (diff.empty()) return;
  const std::string note = str_format(
      "{}: its runs differ in what produced them (provenance.json): {}.", pooled.front()->setting, diff);
  setting_cell += kProvenanceMark;
  if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
}

Table provenance_table(const std::vector<RunRow>& rows, std::string& csv) {
  std::map<std::string, std::vector<const RunRow*>> settings;
  for (const auto& r : rows) settings[setting_key(r)].push_back(&r);
  Table t{"Provenance (provenance.json: what produced each run)", {"run", "attempts"}, {}};
  csv = "run,provenance,attempts";
  for (const auto& f : provenance_fields()) {
    t.header.push_back(f.title);
    csv += std::string(",") + f.name;
  }
  t.header.push_back("differs within its setting");
  csv += ",differs_within_setting\n";
  for (const auto& r : rows) {
    const RunProvenance& p = r.provenance;
    std::vector<std::string> diff;
    if (p.state == "recorded")
      for (const auto& [field, by_value] : differing(settings[setting_key(r)])) diff.push_back(field);
    std::vector<std::string> row = {r.path, p.state == "recorded" ? std::to_string(p.attempts) : p.state};
    std::string line = str_format("{},{},{}", csv_field(r.path), p.state, p.attempts);
    for (const auto& f : provenance_fields()) {
      row.push_back(short_digest(p.value(f.name)));
      line += "," + csv_field(p.value(f.name));
    }
    row.push_back(diff.empty() ? "-" : join(diff, ", "));
    t.rows.push_back(std::move(row));
    csv += line + "," + csv_field(join(diff, " ")) + "\n";
  }
  return t;
}

}  // namespace scouter
