#include "launcher/sweep_exec.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "common/slurm_job.h"
#include "common/stop_signal.h"
#include "common/text.h"
#include "worker/run/checkpoint.h"
#include "worker/run/device.h"
#include "worker/train/trainer.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

std::string quote(const std::string& s) { return shell_quote(s); }

// Exit status of a shell command whose output goes to `log`, after the run's setup lines (in the
// same bash, so what they export reaches the command). It runs in its own process
// group, so a Ctrl-C at the terminal reaches only the sweep. A stop request to the sweep
// (common/stop_signal.h: SIGTERM, SIGINT, SIGHUP, SIGUSR1) reaches mpirun as SIGUSR1, which it
// forwards to every rank (it cannot forward SIGTERM: it aborts the job and exits 1): the ranks
// finish their step, write a checkpoint and exit 3, and so does mpirun.
int shell(const std::vector<std::string>& setup, const std::string& command, const std::string& log) {
  std::string full = "exec >> " + quote(log) + " 2>&1\n" + setup_script(setup) + "exec " + command;
  const char* argv[] = {"/bin/bash", "-c", full.c_str(), nullptr};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/bash", nullptr, &attr, const_cast<char**>(argv), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return 127;
  int status = 0;
  bool passed_on = false;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (!passed_on && stop_requested() != 0) {
      ::kill(pid, SIGUSR1);
      passed_on = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string capture(const std::string& command, int& status) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) throw Error("cannot run: " + command);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return out;
}

int64_t threads_for(const Resources& r) {
  if (r.threads_per_rank > 0) return r.threads_per_rank;
  return std::max<int64_t>(1, resolve_threads(0) / r.ranks_per_node);
}

bool needs_explain(const Sweep& sweep, const SweepRun& r) {
  return sweep.explain_images > 0 && !file_exists(r.dir + "/explain/metrics.json");
}

// `mpiexec ... [launcher] scouter <args> --threads T` for a run's resources, with the launcher
// of the MPI this binary was built with (local_mpi_launcher: Open MPI's or MPICH's flags). No
// binding: Open MPI binds each rank to one core when it starts one or two ranks, so a rank's
// intra-op threads would share a single core (measured: the quickstart's FC epoch took 48 s
// instead of 28 s).
// A local sweep has one node, this machine: every rank runs here whatever ranks_per_node says
// (it places ranks on Slurm's nodes; `ppr:1:node` with 2 ranks would make mpirun refuse), and the
// cores are shared by all of them.
std::string local_command(const Resources& res, const std::string& scouter_bin,
                          const std::string& args) {
  Resources here = res;
  here.ranks_per_node = res.ranks;
  return str_format("{} {} {} --threads {}", local_mpi_launcher(static_cast<int>(here.ranks)),
                    rank_command(res, scouter_bin), args, threads_for(here));
}

}  // namespace

const char* state_name(RunState s) {
  switch (s) {
    case RunState::kComplete: return "complete";
    case RunState::kResumable: return "resumable";
    case RunState::kNew: return "new";
    case RunState::kFailed: return "failed";
    case RunState::kBlocked: return "blocked";
  }
  return "?";
}

RunState run_state(const SweepRun& run) {
  if (file_exists(run.dir + "/summary.json")) return RunState::kComplete;
  if (!latest_checkpoint(run.dir).empty()) return RunState::kResumable;
  return RunState::kNew;
}

void write_run_files(const Sweep& sweep) {
  for (const auto& r : sweep.runs) {
    if (run_state(r) == RunState::kComplete) continue;
    ensure_dir(r.dir);
    write_text_file_atomic(r.dir + "/run.toml", to_toml(r.config));
  }
}

int run_sweep_local(const Sweep& sweep, const std::string& scouter_bin, int* stopped_by) {
  install_stop_handlers();
  write_run_files(sweep);
  std::map<std::string, RunState> state;
  int not_done = 0;
  for (const auto& r : sweep.runs) {
    RunState s = run_state(r);
    bool blocked = false;
    for (const auto& d : r.depends_on) blocked = blocked || state.at(d) != RunState::kComplete;
    if (s == RunState::kComplete) {
      log::info("{}: complete, skipped", r.name);
    } else if (blocked) {
      s = RunState::kBlocked;
      log::error("{}: not run, its base {} did not complete", r.name, join(r.depends_on, ", "));
    } else {
      const Resources& res = r.resources;
      std::string cmd = local_command(res, scouter_bin, "train -c " + quote(r.dir + "/run.toml"));
      log::info("{}: {} ({} rank(s)), log {}/train.log", r.name,
                s == RunState::kResumable ? "resuming" : "starting", res.ranks, r.dir);
      int status = shell(res.setup, cmd, r.dir + "/train.log");
      if (stop_requested() != 0) {
        log::warn("{}: stopped by a signal (exit status {}): its checkpoint is written; run the same "
                  "`scouter sweep` again to resume", r.name, status);
        if (stopped_by) *stopped_by = stop_requested();
        return not_done + 1;
      }
      s = status == 0 && file_exists(r.dir + "/summary.json") ? RunState::kComplete : RunState::kFailed;
      if (s == RunState::kFailed)
        log::error("{}: failed with exit status {} (see {}/train.log)", r.name, status, r.dir);
      else
        log::info("{}: complete", r.name);
    }
    if (s == RunState::kComplete && needs_explain(sweep, r)) {
      std::string cmd = local_command(r.resources, scouter_bin,
                                      str_format("explain {} --images {} --pictures {}", quote(r.dir),
                                                 sweep.explain_images, sweep.explain_pictures));
      log::info("{}: explain ({} images), log {}/explain.log", r.name, sweep.explain_images, r.dir);
      int status = shell(r.resources.setup, cmd, r.dir + "/explain.log");
      if (status != 0 || needs_explain(sweep, r)) {
        log::error("{}: explain failed with exit status {} (see {}/explain.log)", r.name, status, r.dir);
        ++not_done;  // the run itself is complete: its dependents still run
      }
    }
    if (s != RunState::kComplete) ++not_done;
    state[r.name] = s;
  }
  return not_done;
}

std::vector<Submission> submit_sweep_slurm(const Sweep& sweep, const std::string& scouter_bin,
                                           bool dry_run) {
  write_run_files(sweep);
  std::string slurm_dir = sweep.dir + "/slurm";
  ensure_dir(slurm_dir);
  // Groups: the not-yet-complete expansions of one named run (they share resources and base).
  std::vector<std::string> order;
  std::map<std::string, std::vector<const SweepRun*>> groups;
  std::map<std::string, std::string> group_of;  // run name -> group
  for (const auto& r : sweep.runs) {
    group_of[r.name] = r.run;
    if (run_state(r) == RunState::kComplete && !needs_explain(sweep, r)) {
      log::info("{}: complete, not submitted", r.name);
      continue;
    }
    if (!groups.count(r.run)) order.push_back(r.run);
    groups[r.run].push_back(&r);
  }
  std::map<std::string, std::string> job_of;  // group -> job id
  std::vector<Submission> subs;
  for (const auto& g : order) {
    const auto& runs = groups.at(g);
    const Resources& res = runs.front()->resources;
    Submission sub;
    sub.group = g;
    std::set<std::string> deps;
    for (const auto* r : runs)
      for (const auto& d : r->depends_on)
        if (job_of.count(group_of.at(d))) deps.insert(job_of.at(group_of.at(d)));
    if (!deps.empty()) sub.dependency = "afterok:" + join({deps.begin(), deps.end()}, ":");
    JobSpec job;
    job.group = g;
    job.sweep_name = sweep.name;
    for (const auto* r : runs) {
      job.run_dirs.push_back(fs::absolute(r->dir).string());
      sub.runs.push_back(r->name);
    }
    job.log_dir = fs::absolute(slurm_dir).string();
    job.resources = res;
    job.node_cores = runs.front()->node_cores;
    job.array_throttle = sweep.array_throttle;
    job.explain_images = sweep.explain_images;
    job.explain_pictures = sweep.explain_pictures;
    job.scouter_bin = fs::absolute(scouter_bin).string();
    sub.script = slurm_dir + "/" + g + ".sbatch";
    sub.text = job_script(job);
    write_text_file_atomic(sub.script, sub.text);
    if (!dry_run) {
      std::string cmd = "sbatch --parsable" +
                        (sub.dependency.empty() ? std::string() : " --dependency=" + sub.dependency) +
                        " " + quote(sub.script);
      int status = 0;
      std::string out = capture(cmd, status);
      if (status != 0)
        throw UserError(str_format("sbatch refused {}: {}", sub.script, out),
                        "check the partition, account and limits in the sweep's [resources]");
      sub.job_id = split(split(out, '\n')[0], ';')[0];
      job_of[g] = sub.job_id;
    }
    subs.push_back(std::move(sub));
  }
  return subs;
}

}  // namespace scouter
