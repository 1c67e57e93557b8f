// What a sweep run asks of the machine ([resources] of a sweep file, or [runs.NAME.resources]):
// ranks and threads, the Slurm request (time, partition, account, qos, constraint, memory, GPUs,
// raw sbatch options) and how its ranks start (setup lines, a launcher prefix such as
// `apptainer exec`, the scouter command, srun's MPI plugin). Parsed strictly: every bad value is
// one UserError naming file:line, the key and what is valid.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/config.h"

namespace scouter {

struct Resources {
  int64_t ranks = 1;
  int64_t ranks_per_node = 1;
  int64_t threads_per_rank = 0;  // 0: the cores of a node divided by its ranks
  int64_t gpus_per_node = 0;
  int64_t gpus_per_task = 0;
  std::string time_limit = "01:00:00";
  std::string partition;
  std::string account;
  std::string qos;
  std::string constraint;
  std::string mem;          // Slurm size per node ("16G", "4000M", "4000": MB); "" : Slurm's default
  std::string mem_per_cpu;  // the same per CPU; at most one of mem and mem_per_cpu is set
  std::vector<std::string> sbatch;  // raw options, each written as `#SBATCH <option>`
  std::vector<std::string> setup;   // shell lines run before any rank starts
  std::string launcher;             // put before the scouter command of every rank
  std::string scouter;              // the scouter command of every rank ("": rank_program())
  std::string srun_mpi = "pmix";    // srun --mpi=<this>
  int64_t max_requeues = 3;      // Slurm: requeues after a preemption or a time limit
  int64_t signal_lead_s = 120;   // Slurm: USR1 this long before the time limit
  int64_t nodes() const { return (ranks + ranks_per_node - 1) / ranks_per_node; }
  bool operator==(const Resources& o) const;
};

// Longest time_limit, mem and mem_per_cpu a sweep takes ("10-00:00:00" is 11 characters): longer
// text is refused before it is scanned.
constexpr size_t kMaxSlurmTextLength = 32;

// The string keys written as `#SBATCH --<option>=<value>` when set, in this order.
struct SbatchKey {
  const char* key;     // in the sweep file
  const char* option;  // sbatch's long option, without "--"
  const char* short_option;  // "-p", or "" when sbatch has none
  std::string Resources::*member;
};
const std::vector<SbatchKey>& sbatch_keys();

// The keys of a resources table, for messages and docs.
const std::vector<std::string>& resource_keys();

// Valid values of srun_mpi.
const std::vector<std::string>& srun_mpi_plugins();

// Cores of one node of a partition ("": the default one), to check resources and to size
// threads_per_rank = 0; 0 when unknown (the check is skipped). `where` ("file:line") is for the
// error of a partition the cluster does not have.
using NodeCores = std::function<int64_t(const std::string& partition, const std::string& where)>;

// Checks what a run's resources ask against its config and a node of `cores` cores (0: not
// checked): ranks filling whole nodes, threads, GPUs for device = "cuda", the time format.
void check_resources(const Resources& r, const Config& c, const std::string& where, int64_t cores);

// The one-line summary of the --dry-run listing.
std::string describe_resources(const Resources& r);

}  // namespace scouter
