// `scouter sweep` as it starts ranks: a local sweep runs the run's setup lines in the shell that
// starts mpirun and puts the launcher before every rank's scouter command; --dry-run with
// --slurm prints each job script.
#include <gtest/gtest.h>

#include "common/files.h"
#include "test_util.h"
#include "worker/toy_data.h"

namespace scouter {
namespace {

using testing::TempDir;

class SweepExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_toy_shards(dir_.file("data"), 256, 64, 1, 128);
    // The launcher: records what the setup exported and the command, then runs it.
    testing::write_bytes(dir_.file("wrap.sh"),
                         "#!/bin/sh\necho \"setup=${SCOUTER_TEST_SETUP:-unset} $*\" >> " +
                             dir_.file("wrap.log") + "\nexec \"$@\"\n");
    EXPECT_EQ(testing::run_command("chmod +x " + dir_.file("wrap.sh")).exit_code, 0);
  }
  // A sweep of one 2-rank FC run with these [resources] lines (and threads_per_rank = 1 unless
  // they set it).
  std::string sweep_file(const std::string& resources) {
    const std::string path = dir_.file("s.toml");
    const bool threads = resources.find("threads_per_rank") != std::string::npos;
    testing::write_bytes(path, "[sweep]\nname = \"s\"\ndir = \"" + dir_.file("runs") +
                                   "\"\nexplain_images = 0\n[resources]\nranks = 2\n"
                                   "ranks_per_node = 2\n" + (threads ? "" : "threads_per_rank = 1\n") + resources +
                                   "[defaults]\ndataset_dir = \"" + dir_.file("data") +
                                   "\"\nmodel = \"smallcnn\"\nnum_classes = 4\nimg_size = 0\n"
                                   "epochs = 1\n[runs.fc]\nuse_slot = false\n");
    return path;
  }
  std::string wrap_log() const {
    return file_exists(dir_.file("wrap.log")) ? read_text_file(dir_.file("wrap.log")) : "";
  }
  TempDir dir_;
};

TEST_F(SweepExecTest, LocalRanksRunThroughTheLauncherAfterTheSetup) {
  const std::string s = sweep_file("setup = [\"export SCOUTER_TEST_SETUP=from-setup\"]\nlauncher = \"" +
                                   dir_.file("wrap.sh") + "\"\nscouter = \"" + testing::scouter_bin() + "\"\n");
  auto r = testing::run_command("env -u SCOUTER_TEST_SETUP " + testing::scouter_bin() + " sweep " + s);
  ASSERT_EQ(r.exit_code, 0) << r.output << read_text_file(dir_.file("runs/fc/train.log"));
  const std::string line = "setup=from-setup " + testing::scouter_bin() + " train -c " +
                           dir_.file("runs/fc/run.toml") + " --threads 1\n";
  EXPECT_EQ(wrap_log(), line + line);  // both ranks
  EXPECT_TRUE(file_exists(dir_.file("runs/fc/summary.json")));
}

TEST_F(SweepExecTest, AFailingSetupLineStopsTheRunBeforeItsRanks) {
  const std::string s = sweep_file("setup = [\"false\", \"export SCOUTER_TEST_SETUP=never\"]\nlauncher = \"" +
                                   dir_.file("wrap.sh") + "\"\n");
  auto r = testing::run_command(testing::scouter_bin() + " sweep " + s);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("fc: failed with exit status 1"), std::string::npos) << r.output;
  EXPECT_NE(read_text_file(dir_.file("runs/fc/train.log")).find("scouter sweep: setup line failed (status 1): false"),
            std::string::npos);
  EXPECT_EQ(wrap_log(), "");
}

// The node size comes from sinfo (a stand-in here) for the run's partition: threads_per_rank = 0
// asks half of its smallest node for each of 2 ranks.
TEST_F(SweepExecTest, SlurmDryRunPrintsEachJobScript) {
  ensure_dir(dir_.file("bin"));
  testing::write_bytes(dir_.file("bin/sinfo"), "#!/bin/sh\nprintf 'debug* 2\\nbig 16\\nbig 8\\n'\n");
  ASSERT_EQ(testing::run_command("chmod +x " + dir_.file("bin/sinfo")).exit_code, 0);
  const std::string sweep = "PATH=" + dir_.file("bin") + ":$PATH " + testing::scouter_bin() + " sweep ";
  const std::string s = sweep_file("setup = \"module load openmpi\"\nlauncher = \"apptainer exec x.sif\"\n"
                                   "srun_mpi = \"pmi2\"\nqos = \"high\"\npartition = \"big\"\n"
                                   "threads_per_rank = 0\n");
  auto r = testing::run_command(sweep + s + " --slurm true --dry-run true");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string script = dir_.file("runs/slurm/fc.sbatch");
  const size_t head = r.output.find("==> " + script + " <==\n#!/bin/bash\n");
  ASSERT_NE(head, std::string::npos) << r.output;
  EXPECT_NE(r.output.find(read_text_file(script), head), std::string::npos) << r.output;  // in full
  for (const char* text : {"#SBATCH --cpus-per-task=4\n", "#SBATCH --qos=high\n", "module load openmpi || {",
                           "SRUN=(srun --mpi=pmi2 --kill-on-bad-exit=1)",
                           "\"${SRUN[@]}\" apptainer exec x.sif scouter train"})
    EXPECT_NE(r.output.find(text, head), std::string::npos) << text;
  EXPECT_NE(r.output.find("(dry run) fc: 1 run(s) -> " + script), std::string::npos) << r.output;
  EXPECT_FALSE(file_exists(dir_.file("runs/fc/train.log")));  // nothing ran
  // 2 ranks of 2 threads do not fit the default partition's 2-core node; gpu is not listed.
  EXPECT_USAGE_ERROR(testing::run_command(sweep + sweep_file("partition = \"debug\"\nthreads_per_rank = 2\n") +
                                          " --slurm true --dry-run true"),
                     "2 ranks x 2 threads per node need 4 cores; a node has 2");
  EXPECT_USAGE_ERROR(testing::run_command(sweep + sweep_file("partition = \"gpu\"\n") + " --slurm true --dry-run true"),
                     "partition 'gpu' is not one of this cluster's");
}

}  // namespace
}  // namespace scouter
