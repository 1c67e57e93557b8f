#include "common/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/config_toml.h"
#include "common/env_paths.h"
#include "common/error.h"
#include "common/files.h"
#include "common/sweep_overrides.h"
#include "common/text.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

// Keys a sweep sets itself, or that cannot vary between the runs of one study.
const std::set<std::string> kNotSweepable = {"output_dir", "resume", "pre_checkpoint", "seed"};
const std::vector<std::string> kRunExtras = {"pre_run", "seeds", "repeats", "resources"};

// A run or sweep name of the file: a folder name of letters, digits, '_', '-' and '.', not "."
// or ".." (scanned by hand: no regex on text from a file).
bool valid_run_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxRunNameLength || name == "." || name == "..") return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  return true;
}

// a * b and a + b, stopping at UINT64_MAX instead of wrapping.
uint64_t saturating_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}
uint64_t saturating_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

// A value as it appears in a run name: "0.1", "10", "true", "resnet18".
std::string name_text(const toml::node& n) {
  std::string s;
  if (n.is_string()) s = n.value<std::string>().value();
  else if (n.is_integer()) s = std::to_string(n.value<int64_t>().value());
  else if (n.is_floating_point()) s = fmt::format("{}", n.value<double>().value());
  else if (n.is_boolean()) s = n.value<bool>().value() ? "true" : "false";
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '-';
  return s;
}

// A named run as written: scalar keys, grid lists, seeds and dependency.
struct RunSpec {
  std::string name, where;
  int64_t line = 0;
  std::vector<std::pair<std::string, const toml::node*>> scalars;       // key, value (in order)
  std::map<std::string, std::pair<const toml::array*, std::string>> grid;  // key -> list, where
  std::vector<int64_t> seeds;      // explicit seeds, or offsets added to `seed` (repeats)
  bool has_seeds = false;
  bool seed_offsets = false;
  std::string pre_run;
  Resources resources;
};

void read_keys(RunSpec& spec, const toml::table& t, const std::string& file, bool defaults) {
  for (const auto& [k, n] : t) {
    std::string key(k.str()), where = toml_where(file, n);
    if (key == "resources" && !defaults) {
      if (!n.is_table()) throw UserError(fmt::format("{}: 'resources' must be a table", where), "write [runs.NAME.resources]");
      apply_resources(spec.resources, *n.as_table(), file);
    } else if (key == "pre_run" && !defaults) {
      spec.pre_run = sweep_string(n, where, key);
    } else if (key == "seeds") {
      if (!n.is_array() || n.as_array()->empty())
        throw UserError(fmt::format("{}: 'seeds' must be a non-empty list of integers", where), "e.g. seeds = [1, 2, 3]");
      spec.seeds.clear();
      for (const auto& s : *n.as_array()) spec.seeds.push_back(sweep_int(s, where, "seeds", 0));
      spec.has_seeds = true;
      spec.seed_offsets = false;
    } else if (key == "repeats") {
      int64_t r = sweep_int(n, where, key, 1);
      if (r > kMaxSweepRuns)
        throw UserError(fmt::format("{}: repeats = {} is more than the {} runs a sweep may expand to",
                                    where, r, kMaxSweepRuns),
                        fmt::format("repeats = 1..{}; split the study into several sweep files", kMaxSweepRuns));
      spec.seeds.clear();
      for (int64_t i = 0; i < r; ++i) spec.seeds.push_back(i);
      spec.has_seeds = true;
      spec.seed_offsets = true;
    } else if (n.is_array()) {
      if (!find_key(key)) throw unknown_name(where, "config key", key, [] {
          std::vector<std::string> v;
          for (const auto& k2 : config_keys()) v.push_back(k2.name);
          return v;
        }());
      if (kNotSweepable.count(key))
        throw UserError(fmt::format("{}: '{}' must be a single value, got a list", where, key),
                        key == "seed" ? "use seeds = [...] or repeats = N" : "the sweep sets it for every run");
      if (n.as_array()->empty()) throw UserError(fmt::format("{}: '{}' is an empty list", where, key), "give at least one value");
      spec.grid[key] = {n.as_array(), where};
    } else if (n.is_table()) {
      throw UserError(fmt::format("{}: unexpected table '{}'", where, printable(key)),
                      defaults ? "[defaults] holds config keys" : "a run holds config keys, pre_run, seeds, repeats and [resources]");
    } else {
      if (kNotSweepable.count(key) && key != "seed")
        throw UserError(fmt::format("{}: '{}' is set by the sweep", where, key),
                        key == "pre_checkpoint" ? "use pre_run = \"<FC run>\"" : "leave it out");
      spec.grid.erase(key);
      spec.scalars.emplace_back(key, &n);
    }
  }
}

// Refuses a sweep that expands to more than kMaxSweepRuns runs, before any is built: the product
// of each run's grid sizes and seeds, summed, without wrapping.
void check_run_count(const std::vector<RunSpec>& specs, const std::string& path) {
  uint64_t total = 0, most = 0;
  const RunSpec* largest = nullptr;
  for (const auto& s : specs) {
    uint64_t n = s.has_seeds ? s.seeds.size() : 1;
    for (const auto& [key, list] : s.grid) n = saturating_mul(n, list.first->size());
    total = saturating_add(total, n);
    if (!largest || n > most) most = n, largest = &s;
  }
  if (total <= static_cast<uint64_t>(kMaxSweepRuns)) return;
  auto count = [](uint64_t n) { return n == UINT64_MAX ? std::string("more than 2^64") : std::to_string(n); };
  throw UserError(fmt::format("{}: the sweep expands to {} runs (runs.{} at {}: {}); at most {} are allowed",
                              path, count(total), largest->name, largest->where, count(most), kMaxSweepRuns),
                  "use fewer grid values, seeds or repeats, or split the study into several sweep files");
}

// Each pre_run names a run that exists, the graph has no cycle (one walk per run, stopping at runs
// already known to end), and a base starts from no other run (it is an FC baseline: use_pre needs
// use_slot), so dependencies are one level deep.
void check_dependencies(const std::vector<RunSpec>& specs,
                        const std::map<std::string, const RunSpec*>& by_name) {
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  for (const auto& s : specs)
    if (!s.pre_run.empty() && !by_name.count(s.pre_run))
      throw UserError(fmt::format("{}: run '{}' depends on run '{}', which does not exist", s.where,
                                  s.name, printable(s.pre_run, 60)),
                      "runs: " + printable(join(names, ", "), 400));
  enum State { kNew, kOnPath, kDone };
  std::map<std::string, State> state;
  for (const auto& s : specs) {
    std::vector<std::string> chain;
    const RunSpec* cur = &s;
    for (; cur && state[cur->name] == kNew; cur = cur->pre_run.empty() ? nullptr : by_name.at(cur->pre_run)) {
      state[cur->name] = kOnPath;
      chain.push_back(cur->name);
    }
    if (cur && state[cur->name] == kOnPath) {
      chain.push_back(cur->name);
      throw UserError(fmt::format("{}: dependency cycle: {}", s.where, join(chain, " -> ")),
                      "pre_run must point at an FC base run that depends on nothing");
    }
    for (const auto& n : chain) state[n] = kDone;
  }
  for (const auto& s : specs) {
    if (s.pre_run.empty()) continue;
    const RunSpec& b = *by_name.at(s.pre_run);
    if (!b.pre_run.empty())
      throw UserError(fmt::format("{}: run '{}' starts from '{}', which itself starts from '{}'", s.where,
                                  s.name, b.name, b.pre_run),
                      "pre_run must name an FC baseline run (use_slot = false), which has no pre_run");
  }
}

// What matches a run to its base's expansion: the seed (when the base has seeds) and the values of
// the base's grid keys at `point`; "" when `point` lacks one of them (no expansion matches).
std::string base_key(const RunSpec& base, int64_t seed, const std::map<std::string, std::string>& point) {
  std::string key = base.has_seeds ? std::to_string(seed) : std::string();
  for (const auto& [k, list] : base.grid) {
    auto it = point.find(k);
    if (it == point.end()) return {};
    key += "/" + k + "=" + it->second;
  }
  return "#" + key;
}

}  // namespace

const SweepRun* Sweep::find(const std::string& name) const {
  for (const auto& r : runs)
    if (r.name == name) return &r;
  return nullptr;
}

Sweep load_sweep(const std::string& path, const std::string& dir_override,
                 const NodeCores& node_cores, const ConfigCheck& check,
                 const SweepOverrides& overrides) {
  std::string text;
  try {
    text = read_text_file(path);
  } catch (const UserError&) {
    throw UserError(fmt::format("cannot read sweep file '{}'", path), "check the path");
  }
  toml::table tbl = parse_toml_text(text, path, "see https://toml.io for the syntax");
  apply_sweep_overrides(tbl, overrides, path);
  Sweep sweep;
  sweep.file = path;
  sweep.name = fs::path(path).stem().string();
  Resources defaults_res;
  RunSpec defaults;
  std::string dir_where;
  const toml::table* runs_tbl = nullptr;
  for (const auto& [k, n] : tbl) {
    std::string key(k.str()), where = toml_where(path, n);
    if (!n.is_table())
      throw UserError(fmt::format("{}: '{}' outside a section", where, printable(key)),
                      "a sweep file has [sweep], [resources], [defaults], [runs.NAME] and [smoke] sections");
    const toml::table& t = *n.as_table();
    if (key == "sweep") {
      for (const auto& [sk, sn] : t) {
        std::string skey(sk.str()), sw = toml_where(path, sn);
        if (skey == "name") {
          sweep.name = sweep_string(sn, sw, skey);
          if (!valid_run_name(sweep.name))  // the default folder runs/NAME and the Slurm job name
            throw UserError(fmt::format("{}: [sweep] name '{}' is not a folder name", sw,
                                        printable(sweep.name, 60)),
                            fmt::format("use 1 to {} letters, digits, '_', '-', '.'",
                                        kMaxRunNameLength));
        }
        else if (skey == "dir") sweep.dir = sweep_string(sn, sw, skey), dir_where = sw + ": dir";
        else if (skey == "array_throttle") sweep.array_throttle = sweep_int(sn, sw, skey, 0);
        else if (skey == "explain_images") sweep.explain_images = sweep_int(sn, sw, skey, 0);
        else if (skey == "explain_pictures") sweep.explain_pictures = sweep_int(sn, sw, skey, 0);
        else throw unknown_name(sw, "[sweep] key", skey, sweep_section_keys());
      }
    } else if (key == "resources") {
      apply_resources(defaults_res, t, path);
    } else if (key == "defaults") {
      read_keys(defaults, t, path, true);
    } else if (key == "runs") {
      runs_tbl = &t;
    } else {
      throw unknown_name(where, "section", key, {"sweep", "resources", "defaults", "runs", "smoke"});
    }
  }
  // The file's dir expands here, on the submitting host, which writes the run folders (a rank's
  // keys expand on its node); --dir is taken as given (the shell expanded it).
  if (!dir_override.empty()) sweep.dir = dir_override;
  else if (!sweep.dir.empty()) sweep.dir = expand_env(sweep.dir, dir_where);
  else sweep.dir = "runs/" + sweep.name;
  if (!runs_tbl || runs_tbl->empty())
    throw UserError(fmt::format("{}: no runs", path), "add at least one [runs.NAME] section");

  // Named runs in file order.
  std::vector<RunSpec> specs;
  for (const auto& [k, n] : *runs_tbl) {
    RunSpec s = defaults;
    s.name = std::string(k.str());
    s.where = toml_where(path, n);
    s.line = n.source().begin.line;
    s.resources = defaults_res;
    if (!valid_run_name(s.name))
      throw UserError(fmt::format("{}: run name '{}' is not a folder name", s.where, printable(s.name, 60)),
                      fmt::format("use 1 to {} letters, digits, '_', '-', '.'", kMaxRunNameLength));
    if (!n.is_table()) throw UserError(fmt::format("{}: runs.{} must be a table", s.where, s.name), "write [runs.NAME]");
    read_keys(s, *n.as_table(), path, false);
    specs.push_back(std::move(s));
  }
  std::sort(specs.begin(), specs.end(), [](const RunSpec& a, const RunSpec& b) { return a.line < b.line; });
  check_run_count(specs, path);
  std::map<std::string, const RunSpec*> by_name;
  for (const auto& s : specs) by_name[s.name] = &s;
  check_dependencies(specs, by_name);

  // Expand each run: the grid (keys in registry order) times the seeds. Each step is a map look-up,
  // so expansion is linear in the number of runs.
  std::set<std::string> expanded;
  std::unordered_set<std::string> run_names;
  // run -> (its seed and grid values: base_key) -> indices into sweep.runs
  std::map<std::string, std::unordered_map<std::string, std::vector<size_t>>> by_point;
  std::function<void(const RunSpec&)> expand = [&](const RunSpec& s) {
    if (!expanded.insert(s.name).second) return;
    if (!s.pre_run.empty()) expand(*by_name.at(s.pre_run));
    std::vector<std::string> keys;
    for (const auto& k : config_keys())
      if (s.grid.count(k.name)) keys.push_back(k.name);
    std::vector<size_t> pos(keys.size(), 0);
    do {
      Config base;
      Origins origins;
      for (const auto& [key, node] : s.scalars) apply_toml_value(base, key, *node, toml_where(path, *node), &origins);
      std::map<std::string, std::string> point;
      std::string grid_name;
      for (size_t i = 0; i < keys.size(); ++i) {
        const auto& [arr, where] = s.grid.at(keys[i]);
        const toml::node& v = *arr->get(pos[i]);
        apply_toml_value(base, keys[i], v, where, &origins);
        point[keys[i]] = name_text(v);
        grid_name += "_" + keys[i] + point[keys[i]];
      }
      std::vector<int64_t> seeds = s.has_seeds ? s.seeds : std::vector<int64_t>{0};
      const bool offsets = !s.has_seeds || s.seed_offsets;
      for (int64_t sd : seeds) {
        SweepRun r;
        r.run = s.name;
        r.config = base;
        r.config.seed = offsets ? base.seed + sd : sd;
        r.setting = s.name + grid_name;
        r.name = r.setting + (s.has_seeds ? fmt::format("_seed{}", r.config.seed) : "");
        if (r.name.size() > kMaxRunFolderName)
          throw UserError(fmt::format("{}: run '{}' expands to a name of {} bytes ('{}'); a folder name holds at most {}",
                                      s.where, s.name, r.name.size(), printable(r.name, 60), kMaxRunFolderName),
                          "shorten the run's name or the grid's values");
        r.dir = (fs::path(sweep.dir) / r.name).string();
        r.config.output_dir = r.dir;
        r.config.resume = true;
        r.resources = s.resources;
        if (!s.pre_run.empty()) {
          if (!r.config.use_pre)
            throw UserError(fmt::format("{}: run '{}' has pre_run but use_pre = false", s.where, s.name),
                            "set use_pre = true (the run starts from its FC base's backbone)");
          // The base expansion with the same seed (if the base has seeds) and the same values
          // of the grid keys both share; it must be exactly one.
          const RunSpec& b = *by_name.at(s.pre_run);
          const std::vector<size_t>* match = nullptr;
          std::string key = base_key(b, r.config.seed, point);
          if (!key.empty()) {
            const auto& index = by_point.at(s.pre_run);
            auto it = index.find(key);
            if (it != index.end()) match = &it->second;
          }
          if (!match || match->size() != 1)
            throw UserError(fmt::format("{}: run '{}' ({}) matches {} runs of its base '{}'", s.where,
                                        s.name, r.name, match ? match->size() : 0, s.pre_run),
                            "give the base the same seeds and grid keys, or a single run");
          const SweepRun& base_run = sweep.runs[match->front()];
          if (base_run.config.use_slot)
            throw UserError(fmt::format("{}: run '{}' starts from '{}', which is not an FC baseline (use_slot = true)",
                                        s.where, s.name, s.pre_run),
                            "pre_run must name a run with use_slot = false");
          r.config.pre_checkpoint = base_run.dir;
          r.depends_on.push_back(base_run.name);
          origins["pre_checkpoint"] = s.where;
        } else if (r.config.use_pre) {
          throw UserError(fmt::format("{}: run '{}' has use_pre = true but no FC base run", s.where, s.name),
                          "add pre_run = \"<name of the FC run>\"");
        }
        validate(r.config, origins);
        if (check) check(r.config, origins);
        r.node_cores = node_cores ? node_cores(r.resources.partition, s.where) : 0;
        check_resources(r.resources, r.config, s.where, r.node_cores);
        if (!run_names.insert(r.name).second)
          throw UserError(fmt::format("{}: two runs are both named '{}'", s.where, r.name), "rename one of the runs");
        by_point[s.name][base_key(s, r.config.seed, point)].push_back(sweep.runs.size());
        sweep.runs.push_back(std::move(r));
      }
      size_t i = 0;
      while (i < keys.size() && ++pos[i] == s.grid.at(keys[i]).first->size()) pos[i++] = 0;
      if (i == keys.size()) break;
    } while (true);
  };
  for (const auto& s : specs) expand(s);
  return sweep;
}

std::string describe_sweep(const Sweep& sweep) {
  std::string out = fmt::format("sweep {} ({}): {} runs in {}\n", sweep.name, sweep.file,
                                sweep.runs.size(), sweep.dir);
  Config defaults;
  for (const auto& r : sweep.runs) {
    std::vector<std::string> diffs;
    for (const auto& k : config_keys()) {
      if (k.name == "output_dir" || k.name == "resume" || k.name == "pre_checkpoint") continue;
      std::string v = get_value_literal(r.config, k.name);
      if (v != get_value_literal(defaults, k.name)) diffs.push_back(k.name + "=" + v);
    }
    out += fmt::format("  {}\n    dir {}\n    after {}\n    resources {}\n    keys {}\n", r.name,
                       r.dir, r.depends_on.empty() ? "-" : join(r.depends_on, ", "),
                       describe_resources(r.resources), join(diffs, " "));
  }
  return out;
}

}  // namespace scouter
