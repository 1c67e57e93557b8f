#include "common/slurm_job.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <regex>

#include "common/error.h"
#include "common/files.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;

JobSpec site_job(const std::string& run_dir) {
  JobSpec j;
  j.group = "pos";
  j.sweep_name = "study";
  j.run_dirs = {run_dir};
  j.log_dir = "/tmp/logs";
  j.scouter_bin = "/home/me/scouter-hpc/build/launcher/scouter";
  Resources& r = j.resources;
  r.ranks = 8;
  r.ranks_per_node = 4;
  r.partition = "gpu";
  r.qos = "high";
  r.constraint = "skylake|icelake";
  r.mem = "16G";
  r.gpus_per_task = 1;
  r.sbatch = {"--exclusive", "--reservation=maint"};
  r.setup = {"module load openmpi/4.1 hdf5", "export SITE_MARK=from-setup"};
  r.launcher = "apptainer exec --nv --bind /scratch scouter.sif";
  r.srun_mpi = "pmi2";
  j.node_cores = 32;
  return j;
}

size_t at(const std::string& text, const std::string& needle) {
  size_t p = text.find(needle);
  EXPECT_NE(p, std::string::npos) << "no '" << needle << "' in:\n" << text;
  return p;
}

TEST(SlurmJob, ScriptHoldsTheSiteLinesInOrder) {
  const std::string s = job_script(site_job("/runs/study/pos"));
  for (const char* line : {"#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=4\n",
                           "#SBATCH --cpus-per-task=8\n", "#SBATCH --partition=gpu\n",
                           "#SBATCH --qos=high\n", "#SBATCH --constraint=skylake|icelake\n",
                           "#SBATCH --mem=16G\n", "#SBATCH --gpus-per-task=1\n",
                           "#SBATCH --exclusive\n#SBATCH --reservation=maint\n",
                           "SRUN=(srun --mpi=pmi2 --kill-on-bad-exit=1)",
                           "CPUS=${SLURM_CPUS_PER_TASK:-0}"})
    at(s, line);
  EXPECT_EQ(s.find("--mem-per-cpu"), std::string::npos);
  // sbatch reads #SBATCH lines only up to the first command: the setup comes after all of them,
  // and before set -u (module scripts read unset variables) and before any srun.
  const size_t setup = at(s, "module load openmpi/4.1 hdf5 || { echo \"scouter sweep: setup line failed (status $?): \"'module load openmpi/4.1 hdf5' >&2; exit 1; }\n");
  EXPECT_LT(s.rfind("#SBATCH"), setup);
  EXPECT_LT(setup, at(s, "export SITE_MARK=from-setup ||"));
  EXPECT_LT(setup, at(s, "set -u"));
  // The launcher comes before the scouter command; inside a container the command is `scouter`.
  EXPECT_LT(setup, at(s, "\"${SRUN[@]}\" apptainer exec --nv --bind /scratch scouter.sif scouter train -c \"$RUN/run.toml\" --resume true --threads \"$CPUS\" &"));
  at(s, "\"${SRUN[@]}\" apptainer exec --nv --bind /scratch scouter.sif scouter explain \"$RUN\"");
  EXPECT_FALSE(std::regex_search(s, std::regex("@[A-Z_]+@"))) << s;
}

TEST(SlurmJob, RankCommandAndThreads) {
  Resources r;
  EXPECT_EQ(rank_command(r, "/opt/my scouter/scouter"), "'/opt/my scouter/scouter'");
  r.launcher = "apptainer exec x.sif";
  EXPECT_EQ(rank_command(r, "/opt/my scouter/scouter"), "apptainer exec x.sif scouter");
  r.scouter = "/opt/scouter/bin/scouter";
  EXPECT_EQ(rank_command(r, "/elsewhere/scouter"), "apptainer exec x.sif /opt/scouter/bin/scouter");

  r.ranks_per_node = 4;
  EXPECT_EQ(cpus_per_task(r, 32), 8);  // threads_per_rank = 0: the partition's node / its ranks
  EXPECT_EQ(cpus_per_task(r, 0), 0);   // unknown: left to Slurm
  r.threads_per_rank = 3;
  EXPECT_EQ(cpus_per_task(r, 32), 3);
  JobSpec j = site_job("/r");
  j.node_cores = 0;
  EXPECT_EQ(job_script(j).find("#SBATCH --cpus-per-task"), std::string::npos);
  EXPECT_NE(job_script(j).find("if [ \"$CPUS\" -gt 0 ]; then SRUN+=(--cpus-per-task=\"$CPUS\"); fi"),
            std::string::npos);
}

// The script itself, run by bash with a stand-in srun that records its arguments and what the
// setup exported: the rank gets the task's CPUs as --threads, through the launcher.
TEST(SlurmJob, ScriptRunsSetupThenTheRanksWithTheJobsCpus) {
  TempDir dir;
  const std::string fake = dir.file("bin");
  ensure_dir(fake);
  testing::write_bytes(fake + "/srun", "#!/bin/sh\necho \"srun $* MARK=${SITE_MARK:-unset}\" >> " + dir.file("calls") + "\n");
  ASSERT_EQ(testing::run_command("chmod +x " + fake + "/srun").exit_code, 0);
  JobSpec j = site_job(dir.file("run"));
  j.resources.setup = {"export SITE_MARK=from-setup"};
  j.explain_images = 0;
  testing::write_bytes(dir.file("job.sh"), job_script(j));
  const std::string env = "PATH=" + fake + ":$PATH SLURM_ARRAY_TASK_ID=0 SLURM_JOB_NODELIST=n1 SLURM_JOB_ID=1 ";
  auto r = testing::run_command(env + "SLURM_CPUS_PER_TASK=6 bash " + dir.file("job.sh"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_text_file(dir.file("calls")),
            "srun --mpi=pmi2 --kill-on-bad-exit=1 --cpus-per-task=6 apptainer exec --nv --bind /scratch "
            "scouter.sif scouter train -c " + dir.file("run") + "/run.toml --resume true --threads 6 "
            "MARK=from-setup\n");
  // No SLURM_CPUS_PER_TASK (no --cpus-per-task asked): threads 0, the cores the rank may use.
  std::remove(dir.file("calls").c_str());
  r = testing::run_command(env + "bash " + dir.file("job.sh"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_text_file(dir.file("calls")).find("--kill-on-bad-exit=1 apptainer exec"), std::string::npos);
  EXPECT_NE(read_text_file(dir.file("calls")).find("--threads 0 MARK"), std::string::npos);

  // A failing setup line ends the job before any rank starts, naming the line.
  std::remove(dir.file("calls").c_str());
  j.resources.setup = {"false", "export SITE_MARK=never"};
  testing::write_bytes(dir.file("job.sh"), job_script(j));
  r = testing::run_command(env + "bash " + dir.file("job.sh"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("scouter sweep: setup line failed (status 1): false"), std::string::npos) << r.output;
  EXPECT_FALSE(file_exists(dir.file("calls")));
}

TEST(SlurmJob, PartitionNodeSizeFromSinfo) {
  SlurmPartitions p = parse_sinfo("debug* 2\nbig 64\nbig 32+\ngpu 16\n\nbroken\n");
  EXPECT_EQ(p.default_partition, "debug");
  EXPECT_EQ(p.smallest_node.size(), 3u);
  EXPECT_EQ(partition_cores(p, "", "s.toml:4"), 2);       // the default partition
  EXPECT_EQ(partition_cores(p, "big", "s.toml:4"), 32);   // its smallest node, not the largest
  EXPECT_EQ(partition_cores(p, "big,gpu", "s.toml:4"), 16);
  std::string m = testing::user_error_message([&] { partition_cores(p, "nope", "s.toml:4"); });
  EXPECT_NE(m.find("s.toml:4: partition 'nope' is not one of this cluster's"), std::string::npos) << m;
  EXPECT_EQ(partition_cores(parse_sinfo(""), "gpu", "s.toml:4"), 0);  // sinfo told nothing
  SlurmPartitions no_default = parse_sinfo("a 4\nb 8\n");
  EXPECT_NE(testing::user_error_message([&] { partition_cores(no_default, "", "s.toml:4"); })
                .find("no partition is set and this cluster has no default one"),
            std::string::npos);
}

}  // namespace
}  // namespace scouter
