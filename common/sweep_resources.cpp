#include "common/sweep_resources.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/config_toml.h"
#include "common/error.h"
#include "common/text.h"

namespace scouter {
namespace {

// Digits at s[from...].
size_t count_digits(const std::string& s, size_t from) {
  size_t i = from;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  return i - from;
}

// A string, or a list of strings (each one line: no newline, not empty).
std::vector<std::string> string_lines(const toml::node& n, const std::string& where,
                                      const std::string& key, const std::string& example) {
  std::vector<std::string> lines;
  auto one = [&](const toml::node& v) {
    if (!v.is_string())
      throw UserError(fmt::format("{}: '{}' must be a string or a list of strings", where, key),
                      "e.g. " + example);
    std::string s = v.value<std::string>().value();
    if (s.empty() || s.find_first_of("\n\r") != std::string::npos)
      throw UserError(fmt::format("{}: '{}' holds {} line \"{}\"", where, key,
                                  s.empty() ? "an empty" : "a multi-line", printable(s)),
                      "one line per list item, e.g. " + example);
    lines.push_back(s);
  };
  if (n.is_array()) {
    for (const auto& v : *n.as_array()) one(v);
  } else {
    one(n);
  }
  return lines;
}

// A one-line string for the job script ("" is refused: leave the key out instead); a word of an
// #SBATCH line also has no spaces or quotes (sbatch splits the line at spaces).
std::string script_text(const toml::node& n, const std::string& where, const std::string& key,
                        const std::string& example, bool word = false) {
  std::string s = sweep_string(n, where, key);
  if (s.empty() || s.find_first_of(word ? " \t\n\r'\"" : "\n\r") != std::string::npos)
    throw UserError(fmt::format("{}: '{}' must be {}, got \"{}\"", where, key,
                                word ? "one word without spaces or quotes" : "one non-empty line", printable(s)),
                    "e.g. " + example);
  return s;
}

// "16G", "4000M", "4000" (MB) or an integer (MB), as Slurm's --mem takes it.
std::string slurm_size(const toml::node& n, const std::string& where, const std::string& key) {
  if (n.is_integer()) return std::to_string(sweep_int(n, where, key, 0));
  std::string s = sweep_string(n, where, key);
  size_t digits = count_digits(s, 0);
  bool unit = digits + 1 == s.size() && std::string("KMGTkmgt").find(s.back()) != std::string::npos;
  if (digits == 0 || s.size() > kMaxSlurmTextLength || (digits != s.size() && !unit))
    throw UserError(fmt::format("{}: '{}' = \"{}\" is not a Slurm size", where, key, printable(s, 40)),
                    fmt::format("a number of MB, or one with a unit K, M, G or T: {} = \"16G\", "
                                "\"4000M\" or 4000", key));
  return s;
}

// sbatch options that scouter writes itself (besides sbatch_keys()), with the key that sets them
// ("" : the sweep does).
struct OwnOption {
  std::vector<std::string> names;
  std::string key;
};
const std::vector<OwnOption>& own_options() {
  static const std::vector<OwnOption> v = [] {
    std::vector<OwnOption> o = {
        {{"--time", "-t"}, "time_limit"},
        {{"--gpus-per-task"}, "gpus_per_task"},
        {{"--nodes", "-N", "--ntasks", "-n", "--ntasks-per-node"}, "ranks and ranks_per_node"},
        {{"--cpus-per-task", "-c"}, "threads_per_rank"},
        {{"--array", "-a"}, "array_throttle (in [sweep])"},
        {{"--signal"}, "signal_lead_s"},
        {{"--dependency", "-d", "--output", "-o", "--error", "-e", "--open-mode", "--job-name",
          "-J", "--requeue", "--no-requeue"},
         ""}};
    for (const auto& k : sbatch_keys()) {
      o.push_back({{std::string("--") + k.option}, k.key});
      if (*k.short_option) o.back().names.push_back(k.short_option);
    }
    return o;
  }();
  return v;
}

std::string sbatch_option(const std::string& line, const std::string& where) {
  if (line.empty() || line[0] != '-')
    throw UserError(fmt::format("{}: sbatch line \"{}\" is not an sbatch option", where, printable(line)),
                    "write each as on sbatch's command line: sbatch = [\"--exclusive\", "
                    "\"--reservation=maint\"]");
  std::string name = line[1] == '-' ? line.substr(0, line.find_first_of("= ")) : line.substr(0, 2);
  for (const auto& o : own_options())
    if (std::find(o.names.begin(), o.names.end(), name) != o.names.end())
      throw UserError(fmt::format("{}: sbatch line \"{}\": scouter writes {} itself", where, printable(line), name),
                      o.key.empty() ? "the sweep sets it for every job; leave it out"
                                    : "set it with " + o.key);
  return line;
}

// Slurm's MINUTES, or [DAYS-]HH:MM:SS (hours 1 or 2 digits), scanned by hand: no regex on text
// from a file.
bool valid_time(const std::string& t) {
  if (t.empty() || t.size() > kMaxSlurmTextLength) return false;
  size_t i = count_digits(t, 0);
  if (i == t.size()) return true;
  if (i > 0 && t[i] == '-') i = i + 1;
  else i = 0;
  size_t h = count_digits(t, i);
  if (h < 1 || h > 2) return false;
  i += h;
  for (int part = 0; part < 2; ++part) {
    if (i >= t.size() || t[i] != ':' || count_digits(t, i + 1) != 2) return false;
    i += 3;
  }
  return i == t.size();
}

}  // namespace

UserError unknown_name(const std::string& where, const std::string& what, const std::string& key,
                       const std::vector<std::string>& valid) {
  std::string near = nearest_name(key, valid);
  return UserError(fmt::format("{}: unknown {} '{}'", where, what, printable(key)),
                   near.empty() ? "valid: " + join(valid, ", ") : fmt::format("did you mean '{}'?", near));
}

int64_t sweep_int(const toml::node& n, const std::string& where, const std::string& key, int64_t lo) {
  if (n.is_array())
    throw UserError(fmt::format("{}: '{}' must be a single integer, got a list", where, key),
                    "lists expand to a grid only for config keys");
  if (!n.is_integer() || n.value<int64_t>().value() < lo)
    throw UserError(fmt::format("{}: '{}' must be an integer >= {}", where, key, lo),
                    fmt::format("e.g. {} = {}", key, std::max<int64_t>(lo, 1)));
  return n.value<int64_t>().value();
}

std::string sweep_string(const toml::node& n, const std::string& where, const std::string& key) {
  if (n.is_array())
    throw UserError(fmt::format("{}: '{}' must be a single string, got a list", where, key),
                    "lists expand to a grid only for config keys");
  if (!n.is_string()) throw UserError(fmt::format("{}: '{}' must be a string", where, key), "quote it");
  return n.value<std::string>().value();
}

const std::vector<SbatchKey>& sbatch_keys() {
  static const std::vector<SbatchKey> v = {
      {"partition", "partition", "-p", &Resources::partition},
      {"account", "account", "-A", &Resources::account},
      {"qos", "qos", "-q", &Resources::qos},
      {"constraint", "constraint", "-C", &Resources::constraint},
      {"mem", "mem", "", &Resources::mem},
      {"mem_per_cpu", "mem-per-cpu", "", &Resources::mem_per_cpu}};
  return v;
}

const std::vector<std::string>& resource_keys() {
  static const std::vector<std::string> v = {
      "ranks", "ranks_per_node", "threads_per_rank", "gpus_per_node", "gpus_per_task",
      "time_limit", "partition", "account", "qos", "constraint", "mem", "mem_per_cpu", "sbatch",
      "setup", "launcher", "scouter", "srun_mpi", "max_requeues", "signal_lead_s"};
  return v;
}

const std::vector<std::string>& srun_mpi_plugins() {
  static const std::vector<std::string> v = {"pmix", "pmix_v3", "pmix_v4", "pmix_v5", "pmi2",
                                             "cray_shasta", "none"};
  return v;
}

void apply_resources(Resources& r, const toml::table& t, const std::string& file) {
  std::string mem_where;  // where this table set mem or mem_per_cpu
  for (const auto& [k, n] : t) {
    std::string key(k.str()), where = toml_where(file, n);
    if (key == "mem" || key == "mem_per_cpu") {
      if (!mem_where.empty())
        throw UserError(fmt::format("{}: mem and mem_per_cpu are both set (the other at {})", where, mem_where),
                        "Slurm takes one of them: memory per node (mem) or per CPU (mem_per_cpu)");
      mem_where = where;
      (key == "mem" ? r.mem : r.mem_per_cpu) = slurm_size(n, where, key);
      (key == "mem" ? r.mem_per_cpu : r.mem).clear();
    }
    else if (key == "ranks") r.ranks = sweep_int(n, where, key, 1);
    else if (key == "ranks_per_node") r.ranks_per_node = sweep_int(n, where, key, 1);
    else if (key == "threads_per_rank") r.threads_per_rank = sweep_int(n, where, key, 0);
    else if (key == "gpus_per_node") r.gpus_per_node = sweep_int(n, where, key, 0);
    else if (key == "gpus_per_task") r.gpus_per_task = sweep_int(n, where, key, 0);
    else if (key == "max_requeues") r.max_requeues = sweep_int(n, where, key, 0);
    else if (key == "signal_lead_s") r.signal_lead_s = sweep_int(n, where, key, 0);
    else if (key == "time_limit") {
      r.time_limit = sweep_string(n, where, key);
      if (!valid_time(r.time_limit))
        throw UserError(fmt::format("{}: time_limit \"{}\" is not a Slurm time", where,
                                    printable(r.time_limit, 40)),
                        fmt::format("write MINUTES, HH:MM:SS or D-HH:MM:SS (at most {} characters)",
                                    kMaxSlurmTextLength));
    }
    else if (key == "partition") r.partition = sweep_string(n, where, key);
    else if (key == "account") r.account = sweep_string(n, where, key);
    else if (key == "qos") r.qos = script_text(n, where, key, "qos = \"normal\"", true);
    else if (key == "constraint") r.constraint = script_text(n, where, key, "constraint = \"skylake|icelake\"", true);
    else if (key == "launcher")
      r.launcher = script_text(n, where, key, "launcher = \"apptainer exec --bind /scratch scouter.sif\"");
    else if (key == "scouter") r.scouter = script_text(n, where, key, "scouter = \"/opt/scouter/bin/scouter\"");
    else if (key == "setup")
      r.setup = string_lines(n, where, key, "setup = [\"module load openmpi/4.1\", \"source $HOME/env.sh\"]");
    else if (key == "sbatch") {
      r.sbatch.clear();
      for (const auto& line : string_lines(n, where, key, "sbatch = [\"--exclusive\"]"))
        r.sbatch.push_back(sbatch_option(line, where));
    } else if (key == "srun_mpi") {
      r.srun_mpi = sweep_string(n, where, key);
      const auto& valid = srun_mpi_plugins();
      if (std::find(valid.begin(), valid.end(), r.srun_mpi) == valid.end())
        throw UserError(fmt::format("{}: srun_mpi = \"{}\" is not an MPI plugin of srun", where, printable(r.srun_mpi)),
                        "valid: " + join(valid, ", ") + " (pmi2 where Slurm has no PMIx; `srun --mpi=list` shows a site's)");
    } else {
      throw unknown_name(where, "resource", key, resource_keys());
    }
  }
}

void check_resources(const Resources& r, const Config& c, const std::string& where, int64_t cores) {
  auto fail = [&](const std::string& what, const std::string& hint) {
    throw UserError(fmt::format("{}: resources cannot be met: {}", where, what), hint);
  };
  if (r.ranks % r.ranks_per_node != 0)
    fail(fmt::format("ranks = {} is not a multiple of ranks_per_node = {}", r.ranks, r.ranks_per_node),
         "ranks fill whole nodes");
  int64_t threads = std::max<int64_t>(1, r.threads_per_rank);
  if (cores > 0 && r.ranks_per_node * threads > cores)
    fail(fmt::format("{} ranks x {} threads per node need {} cores; a node has {}", r.ranks_per_node,
                     threads, r.ranks_per_node * threads, cores),
         "lower ranks_per_node or threads_per_rank");
  const int64_t task_gpus = r.gpus_per_task * r.ranks_per_node;
  if (r.gpus_per_node > 0 && task_gpus > r.gpus_per_node)
    fail(fmt::format("gpus_per_task = {} for {} ranks per node needs {} GPUs; gpus_per_node = {}",
                     r.gpus_per_task, r.ranks_per_node, task_gpus, r.gpus_per_node),
         "raise gpus_per_node, or leave it out (0) with gpus_per_task");
  if (c.device == "cuda" && std::max(r.gpus_per_node, task_gpus) < r.ranks_per_node)
    fail(fmt::format("device = \"cuda\" with {} ranks per node but gpus_per_node = {}", r.ranks_per_node,
                     r.gpus_per_node),
         "one GPU per rank: set gpus_per_node >= ranks_per_node, or gpus_per_task = 1");
  if (!valid_time(r.time_limit))
    fail(fmt::format("time_limit \"{}\" is not a Slurm time", printable(r.time_limit, 40)),
         "write MINUTES, HH:MM:SS or D-HH:MM:SS");
}

bool Resources::operator==(const Resources& o) const {
  return ranks == o.ranks && ranks_per_node == o.ranks_per_node &&
         threads_per_rank == o.threads_per_rank && gpus_per_node == o.gpus_per_node &&
         gpus_per_task == o.gpus_per_task && time_limit == o.time_limit &&
         partition == o.partition && account == o.account && qos == o.qos &&
         constraint == o.constraint && mem == o.mem && mem_per_cpu == o.mem_per_cpu &&
         sbatch == o.sbatch && setup == o.setup && launcher == o.launcher &&
         scouter == o.scouter && srun_mpi == o.srun_mpi && max_requeues == o.max_requeues &&
         signal_lead_s == o.signal_lead_s;
}

std::string describe_resources(const Resources& r) {
  std::string s = fmt::format("{} rank(s), {} per node, {} thread(s)/rank, {} GPU(s)/node, {}", r.ranks,
                              r.ranks_per_node,
                              r.threads_per_rank == 0 ? std::string("auto") : std::to_string(r.threads_per_rank),
                              r.gpus_per_node, r.time_limit);
  auto add = [&](const char* name, const std::string& v) {
    if (!v.empty()) s += fmt::format(", {} {}", name, v);
  };
  for (const auto& k : sbatch_keys()) add(k.key, r.*k.member);
  if (r.gpus_per_task > 0) add("gpus_per_task", std::to_string(r.gpus_per_task));
  if (!r.sbatch.empty()) add("sbatch", join(r.sbatch, " "));
  if (!r.setup.empty()) add("setup", join(r.setup, "; "));
  add("launcher", r.launcher);
  add("scouter", r.scouter);
  if (r.srun_mpi != "pmix") add("srun_mpi", r.srun_mpi);
  return s;
}

}  // namespace scouter
