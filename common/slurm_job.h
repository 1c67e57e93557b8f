// The Slurm side of a sweep, as text: the job script of one run group (from the template
// slurm/job.sbatch.in, compiled in), the shell around a rank's command (setup lines, launcher
// prefix, the scouter command), and the node size of a partition read from sinfo. No process is
// started here; launcher/sweep_exec.cpp runs sinfo, sbatch and mpirun.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/sweep_resources.h"

namespace scouter {

// One array job: the not-yet-complete runs of one named run of a sweep.
struct JobSpec {
  std::string group, sweep_name;
  std::vector<std::string> run_dirs;  // absolute
  std::string log_dir;                // absolute; %x-%A_%a.out files go there
  Resources resources;
  int64_t node_cores = 0;             // a node of its partition (0: unknown)
  int64_t array_throttle = 0;
  int64_t explain_images = 0, explain_pictures = 0;
  std::string scouter_bin;            // the submitting scouter's absolute path
};

// The whole job script.
std::string job_script(const JobSpec& job);

// The scouter command of every rank: resources.scouter as written, else plain `scouter` under a
// launcher (a container has its own; the submitting host's path is not there), else the
// submitting binary's path (quoted).
std::string rank_program(const Resources& r, const std::string& scouter_bin);
// "<launcher> <rank_program>".
std::string rank_command(const Resources& r, const std::string& scouter_bin);

// The setup lines as a script: each line, and if it fails, a message naming it and exit 1.
std::string setup_script(const std::vector<std::string>& lines);

// --cpus-per-task: threads_per_rank, or with 0 a node's cores divided by its ranks; 0 when that
// is unknown (the line is left out and each rank uses the cores it may run on).
int64_t cpus_per_task(const Resources& r, int64_t node_cores);

// `sinfo -h -o "%P %c"`: one line per partition and node size ("debug* 2"; '*' marks the
// default partition).
struct SlurmPartitions {
  std::map<std::string, int64_t> smallest_node;  // partition -> cores of its smallest node
  std::string default_partition;                 // "" when none is marked
};
SlurmPartitions parse_sinfo(const std::string& text);
// Cores of the smallest node of `partition` (a comma list: the smallest of all; "": the default
// partition), 0 when sinfo listed nothing. UserError naming `where` for a partition it does not
// list.
int64_t partition_cores(const SlurmPartitions& p, const std::string& partition,
                        const std::string& where);

}  // namespace scouter
