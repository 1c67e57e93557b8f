#include "launcher/commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "common/text.h"
#include "common/version.h"
#include "datasets/idx_prep.h"
#include "launcher/sweep.h"
#include "launcher/sweep_exec.h"
#include "worker/bench.h"
#include "worker/trainer.h"
#include "worker/vis.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

// Options of commands that are not config keys.
struct CommandOptions {
  std::vector<std::pair<std::string, std::string>> values;
  std::string get(const std::string& key, const std::string& fallback = {}) const {
    for (const auto& [k, v] : values)
      if (k == key) return v;
    return fallback;
  }
};

CommandOptions take_options(const ParsedArgs& args, const std::vector<std::string>& allowed) {
  CommandOptions o;
  for (const auto& [k, v] : args.options) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
      throw UserError(fmt::format("command line: '{}' does not take --{}", args.command, k),
                      "valid: " + (allowed.empty() ? std::string("no options")
                                                   : "--" + join(allowed, ", --")));
    o.values.emplace_back(k, v);
  }
  return o;
}

void no_positional(const ParsedArgs& args) {
  if (!args.positional.empty())
    throw UserError(fmt::format("command line: '{}' takes no argument '{}'", args.command,
                                args.positional[0]),
                    "options are written --key value");
}

int64_t int_option(const CommandOptions& o, const std::string& key, int64_t fallback, int64_t lo) {
  std::string s = o.get(key);
  if (s.empty()) return fallback;
  auto v = parse_int(s);
  if (!v || *v < lo)
    throw UserError(fmt::format("command line: --{} must be an integer >= {}, got '{}'", key, lo, s),
                    fmt::format("e.g. --{} {}", key, fallback));
  return *v;
}

int cmd_train(const ParsedArgs& args) {
  no_positional(args);
  Origins origins;
  Config cfg = config_from_args(args, origins);
  validate(cfg, origins);
  // Every rank validates the same config, so a bad one fails everywhere before MPI starts.
  const Topology& topo = MpiEnv::init(nullptr, nullptr).topology();
  init_logging(topo.rank, cfg.log_level);
  if (topo.rank == 0) {
    spdlog::info("scouter {} ({}) train on {}; resolved config:\n{}", SCOUTER_VERSION,
                 SCOUTER_GIT_VERSION, topo.describe(), to_table(cfg));
    ensure_dir(cfg.output_dir);
    write_text_file_atomic(cfg.output_dir + "/command.txt", args.command_line + "\n");
    write_text_file_atomic(cfg.output_dir + "/hosts.txt", join(topo.hosts, "\n") + "\n");
  }
  TrainResult r = train_run(cfg, origins);
  return r.stopped_by != 0 ? kExitRequeue : kExitOk;
}

int cmd_vis(const ParsedArgs& args) {
  no_positional(args);
  Origins origins;
  Config cfg = config_from_args(args, origins);
  if (!origins.count("output_dir"))
    throw UserError("command line: vis needs --output_dir RUN (a trained run's folder)",
                    "e.g. scouter vis --output_dir runs/quickstart/scouter_pos --vis_count 4");
  validate(cfg, origins);
  origins.erase("output_dir");
  run_vis(cfg, origins);
  return kExitOk;
}

int cmd_prep(const ParsedArgs& args) {
  if (args.positional.size() != 1)
    throw UserError("command line: prep needs one dataset name",
                    "e.g. scouter prep FashionMNIST --out data/fashion-mnist");
  std::string dataset = args.positional[0];
  auto o = take_options(args, {"src", "out", "shard_size"});
  if (dataset != "MNIST" && dataset != "FashionMNIST") {
    const auto& known = known_datasets();
    if (std::find(known.begin(), known.end(), dataset) != known.end())
      throw UserError(fmt::format("prep of {} is not available in this version", dataset),
                      "available: MNIST, FashionMNIST");
    throw UserError(fmt::format("command line: unknown dataset '{}'", dataset),
                    "valid: MNIST, FashionMNIST");
  }
  std::string src = o.get("src", dataset == "FashionMNIST" ? "/usr/share/datasets/fashion-mnist" : "");
  if (src.empty())
    throw UserError("command line: prep MNIST needs --src DIR (the folder of the four IDX files)",
                    "e.g. --src ~/data/mnist");
  std::string out = o.get("out", "data/" + to_lower(dataset == "FashionMNIST" ? "fashion-mnist" : dataset));
  int64_t shard_size = int_option(o, "shard_size", Config{}.shard_size, 1);
  PrepResult r = prep_idx_dataset(dataset, src, out, shard_size);
  spdlog::info("prep {}: {} train and {} val samples in {} ({}){}", dataset, r.train_count,
               r.val_count, out, r.train_paths.size() + r.val_paths.size() == 1 ? "1 shard" :
               fmt::format("{} shards", r.train_paths.size() + r.val_paths.size()),
               r.skipped ? ", already up to date" : "");
  return kExitOk;
}

int cmd_bench(const ParsedArgs& args) {
  no_positional(args);
  auto o = take_options(args, {"steps", "threads", "filter", "scaling"});
  BenchOptions opt;
  opt.steps = int_option(o, "steps", opt.steps, 1);
  opt.threads = int_option(o, "threads", opt.threads, 0);
  opt.filter = o.get("filter");
  opt.scaling = parse_bool(o.get("scaling", "false")).value_or(false);
  auto results = run_bench(opt);
  if (!opt.scaling || MpiEnv::get().topology().rank == 0) std::fputs(bench_table(results).c_str(), stdout);
  return kExitOk;
}

int cmd_keys(const ParsedArgs& args) {
  no_positional(args);
  auto o = take_options(args, {"markdown"});
  bool md = parse_bool(o.get("markdown", "false")).value_or(false);
  Config defaults;
  std::string group;
  if (md) std::fputs("| key | default | meaning |\n| --- | --- | --- |\n", stdout);
  for (const auto& k : config_keys()) {
    std::string value = get_value_literal(defaults, k.name);
    if (md) {
      std::fputs(fmt::format("| `{}` | `{}` | {} |\n", k.name, value, k.doc).c_str(), stdout);
    } else {
      if (k.group != group) std::fputs(fmt::format("[{}]\n", group = k.group).c_str(), stdout);
      std::fputs(fmt::format("  {:<17} {:<16} {}\n", k.name, value, k.doc).c_str(), stdout);
    }
  }
  return kExitOk;
}

// Cores per node of the Slurm cluster (the largest node), or 0 if sinfo cannot tell.
int64_t slurm_cores_per_node() {
  FILE* p = popen("sinfo -h -o %c 2>/dev/null", "r");
  if (!p) return 0;
  int64_t best = 0;
  char line[64];
  while (fgets(line, sizeof line, p))
    best = std::max<int64_t>(best, parse_int(split(std::string(line), '\n')[0]).value_or(0));
  pclose(p);
  return best;
}

int cmd_sweep(const ParsedArgs& args) {
  if (args.positional.size() != 1)
    throw UserError("command line: sweep needs one sweep file", "e.g. scouter sweep experiments/mnist.toml --dry-run true");
  auto o = take_options(args, {"dry-run", "dry_run", "slurm", "dir"});
  bool dry = parse_bool(o.get("dry-run", o.get("dry_run", "false"))).value_or(false);
  bool slurm = parse_bool(o.get("slurm", "false")).value_or(false);
  Sweep sweep = load_sweep(args.positional[0], o.get("dir"), slurm ? slurm_cores_per_node() : resolve_threads(0));
  std::string self = fs::read_symlink("/proc/self/exe").string();
  if (dry) {
    std::string text = describe_sweep(sweep);
    for (const auto& r : sweep.runs) text += fmt::format("  {}: {}\n", r.name, state_name(run_state(r)));
    std::fputs(text.c_str(), stdout);
    if (!slurm) return kExitOk;
  }
  if (slurm) {
    auto subs = submit_sweep_slurm(sweep, self, dry);
    if (subs.empty()) spdlog::info("sweep {}: every run is complete; nothing submitted", sweep.name);
    for (const auto& s : subs)
      std::fputs(fmt::format("{} {}: {} run(s){} -> {}\n", s.job_id.empty() ? "(dry run)" : "job " + s.job_id,
                             s.group, s.runs.size(),
                             s.dependency.empty() ? "" : ", " + s.dependency, s.script).c_str(),
                 stdout);
    return kExitOk;
  }
  int left = run_sweep_local(sweep, self);
  spdlog::info("sweep {}: {} of {} runs complete; results: scouter report {}", sweep.name,
               sweep.runs.size() - static_cast<size_t>(left), sweep.runs.size(), sweep.dir);
  return left == 0 ? kExitOk : kExitFailure;
}

int cmd_report(const ParsedArgs& args) {
  take_options(args, {});
  if (args.positional.empty())
    throw UserError("command line: report needs one or more folders", "e.g. scouter report runs/quickstart");
  std::fputs(report_table(args.positional).c_str(), stdout);
  return kExitOk;
}

}  // namespace

Config config_from_args(const ParsedArgs& args, Origins& origins) {
  Config cfg;
  for (const auto& [k, v] : args.options)
    if (k == "config") apply_toml_file(cfg, v, &origins);
  for (const auto& [k, v] : args.options)
    if (k != "config") apply_override(cfg, k, v, &origins);
  return cfg;
}

int run_command(const ParsedArgs& args) {
  const std::string& c = args.command;
  if (c == "train") return cmd_train(args);
  if (c == "vis") return cmd_vis(args);
  if (c == "prep") return cmd_prep(args);
  if (c == "bench") return cmd_bench(args);
  if (c == "keys") return cmd_keys(args);
  if (c == "report") return cmd_report(args);
  if (c == "sweep") return cmd_sweep(args);
  if (c == "version" || c == "--version") {
    std::fputs(fmt::format("scouter {} ({})\n", SCOUTER_VERSION, SCOUTER_GIT_VERSION).c_str(), stdout);
    return kExitOk;
  }
  throw UserError(fmt::format("unknown command '{}'", c),
                  "valid: prep, train, vis, sweep, report, bench, keys, version (scouter help)");
}

}  // namespace scouter
