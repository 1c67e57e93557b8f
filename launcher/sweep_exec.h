// Carrying out a sweep: locally (each run an MPI job, in dependency order) or on Slurm (one
// sbatch array per run group from the template in slurm/, dependent groups with afterok).
// Either way a run whose summary.json exists is skipped and one with a checkpoint resumes, so
// submitting the same sweep again finishes what is left and reruns nothing.
#pragma once

#include <string>
#include <vector>

#include "common/sweep.h"

namespace scouter {

enum class RunState { kComplete, kResumable, kNew, kFailed, kBlocked };
const char* state_name(RunState s);
RunState run_state(const SweepRun& run);

// Writes <run dir>/run.toml (the resolved config) for every run not yet complete.
void write_run_files(const Sweep& sweep);

// Runs what is not complete, in order, as `mpiexec -np <ranks> [launcher] scouter train` with the
// launcher of the MPI this binary was built with (local_mpi_launcher, common/mpi_env.h), in a bash
// that first runs the run's setup lines; a failed run's dependents are skipped. Returns the number
// of runs that did not complete. A stop signal (common/stop_signal.h) stops the running run with a
// checkpoint (passed to the launcher as SIGUSR1) and the sweep after it; *stopped_by (when given)
// is then the signal.
int run_sweep_local(const Sweep& sweep, const std::string& scouter_bin, int* stopped_by = nullptr);

struct Submission {
  std::string group, job_id, script;
  std::string text;  // the script's text
  std::vector<std::string> runs;
  std::string dependency;  // "afterok:<id>[:<id>]" or ""
};
// Writes one sbatch script per group into <sweep dir>/slurm/ (common/slurm_job.h) and submits
// them (sbatch --parsable); dry_run writes the scripts without submitting.
std::vector<Submission> submit_sweep_slurm(const Sweep& sweep, const std::string& scouter_bin,
                                           bool dry_run);

}  // namespace scouter
