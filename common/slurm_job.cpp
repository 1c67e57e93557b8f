#include "common/slurm_job.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"
#include "common/sbatch_template.h"
#include "common/text.h"

namespace scouter {
namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

// The #SBATCH lines the sweep's keys ask for beyond the template's own, then the raw ones.
std::string extra_sbatch(const Resources& r) {
  std::string s;
  for (const auto& k : sbatch_keys())
    if (!(r.*k.member).empty()) s += fmt::format("#SBATCH --{}={}\n", k.option, r.*k.member);
  if (r.gpus_per_node > 0) s += fmt::format("#SBATCH --gres=gpu:{}\n", r.gpus_per_node);
  if (r.gpus_per_task > 0) s += fmt::format("#SBATCH --gpus-per-task={}\n", r.gpus_per_task);
  for (const auto& raw : r.sbatch) s += "#SBATCH " + raw + "\n";
  return s;
}

}  // namespace

std::string rank_program(const Resources& r, const std::string& scouter_bin) {
  if (!r.scouter.empty()) return r.scouter;
  return r.launcher.empty() ? shell_quote(scouter_bin) : "scouter";
}

std::string rank_command(const Resources& r, const std::string& scouter_bin) {
  return (r.launcher.empty() ? "" : r.launcher + " ") + rank_program(r, scouter_bin);
}

std::string setup_script(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines)
    s += fmt::format("{} || {{ echo \"scouter sweep: setup line failed (status $?): \"{} >&2; exit 1; }}\n",
                     l, shell_quote(l));
  return s;
}

int64_t cpus_per_task(const Resources& r, int64_t node_cores) {
  if (r.threads_per_rank > 0) return r.threads_per_rank;
  if (node_cores <= 0) return 0;
  return std::max<int64_t>(1, node_cores / r.ranks_per_node);
}

std::string job_script(const JobSpec& job) {
  const Resources& r = job.resources;
  std::vector<std::string> dirs;
  for (const auto& d : job.run_dirs) dirs.push_back(shell_quote(d));
  std::string array = fmt::format("0-{}", job.run_dirs.size() - 1);
  if (job.array_throttle > 0) array += fmt::format("%{}", job.array_throttle);
  const int64_t cpus = cpus_per_task(r, job.node_cores);
  std::string setup;
  if (!r.setup.empty())
    setup = "# The sweep's setup lines, before any rank starts ([resources] setup).\n" + setup_script(r.setup);
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"@GROUP@", job.group}, {"@SWEEP@", job.sweep_name},
      {"@COUNT@", std::to_string(job.run_dirs.size())},
      {"@JOB_NAME@", job.sweep_name + "-" + job.group}, {"@NODES@", std::to_string(r.nodes())},
      {"@RANKS_PER_NODE@", std::to_string(r.ranks_per_node)},
      {"@CPUS_PER_TASK@", cpus > 0 ? fmt::format("#SBATCH --cpus-per-task={}\n", cpus) : std::string()},
      {"@TIME_LIMIT@", r.time_limit}, {"@ARRAY@", array},
      {"@LEAD@", std::to_string(r.signal_lead_s)}, {"@LOG_DIR@", job.log_dir},
      {"@EXTRA_SBATCH@", extra_sbatch(r)}, {"@SETUP@", setup}, {"@RUN_DIRS@", join(dirs, " ")},
      {"@MAX_REQUEUES@", std::to_string(r.max_requeues)},
      {"@EXPLAIN_IMAGES@", std::to_string(job.explain_images)},
      {"@EXPLAIN_PICTURES@", std::to_string(job.explain_pictures)},
      {"@SRUN_MPI@", r.srun_mpi}, {"@RANK_COMMAND@", rank_command(r, job.scouter_bin)}};
  std::string text = kSbatchTemplate;
  for (const auto& [k, v] : vars) text = replace_all(text, k, v);
  return text;
}

SlurmPartitions parse_sinfo(const std::string& text) {
  SlurmPartitions p;
  for (const std::string& line : split(text, '\n')) {
    std::vector<std::string> f;
    for (const auto& w : split(line, ' '))
      if (!w.empty()) f.push_back(w);
    if (f.size() != 2) continue;
    std::string name = f[0];
    if (!name.empty() && name.back() == '*') name.pop_back(), p.default_partition = name;
    // "%c" is a number, or "N+" where nodes of one line differ: N is the smallest.
    auto cores = parse_int(f[1].substr(0, f[1].find('+')));
    if (name.empty() || !cores || *cores <= 0) continue;
    auto it = p.smallest_node.find(name);
    p.smallest_node[name] = it == p.smallest_node.end() ? *cores : std::min(it->second, *cores);
  }
  return p;
}

int64_t partition_cores(const SlurmPartitions& p, const std::string& partition,
                        const std::string& where) {
  if (p.smallest_node.empty()) return 0;
  std::vector<std::string> names;
  for (const auto& [name, cores] : p.smallest_node) names.push_back(name);
  std::string wanted = partition.empty() ? p.default_partition : partition;
  if (wanted.empty())
    throw UserError(fmt::format("{}: no partition is set and this cluster has no default one", where),
                    "set partition in [resources]; sinfo lists: " + join(names, ", "));
  int64_t smallest = 0;
  for (const std::string& name : split(wanted, ',')) {
    auto it = p.smallest_node.find(name);
    if (it == p.smallest_node.end())
      throw UserError(fmt::format("{}: partition '{}' is not one of this cluster's", where, name),
                      "sinfo lists: " + join(names, ", "));
    smallest = smallest == 0 ? it->second : std::min(smallest, it->second);
  }
  return smallest;
}

}  // namespace scouter
