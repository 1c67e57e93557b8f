// `scouter train` as MPI jobs of 2 ranks (mpirun), the way users run it: a resumed run ends
// with the same weights as an uninterrupted one, SIGTERM stops every rank with a checkpoint and
// exit status 3, a killed or stuck rank ends the job in bounded time with the rank named,
// staging sends exactly what the data plan reads, another world size resumes from an epoch
// boundary only, and the singleton mistake is refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "common/config.h"
#include "common/metrics_log.h"
#include "test_util.h"
#include "worker/run/checkpoint.h"
#include "worker/run/data.h"
#include "worker/toy_data.h"

namespace scouter {
namespace {

using testing::BackgroundCommand;
using testing::TempDir;

class DistributedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir;
    testing::write_toy_shards(data_->path(), 1024, 128, 1, 256);
  }
  static void TearDownTestSuite() { delete data_; }

  // A training command of `ranks` ranks (2 unless given); 56-px inputs where the test compares
  // with an uninterrupted run or resumes one, 28 px elsewhere.
  std::string train(const std::string& out, const std::string& extra = "",
                    int64_t img_size = 56, const std::string& data = data_->path(),
                    int ranks = 2) const {
    return testing::mpirun() + " -np " + std::to_string(ranks) + " " + testing::scouter_bin() +
           " train --model smallcnn --num_classes 4 --img_size " + std::to_string(img_size) +
           " --batch_size 16 --threads 1 --lr 3e-4 --slots_per_class 2 --aug true --dataset_dir " +
           data + " --output_dir " + out + " " + extra;
  }

  static TempDir* data_;
  TempDir dir_;
};
TempDir* DistributedTest::data_ = nullptr;


void signal_ranks(const std::string& needle, int sig) {
  for (int rank : {0, 1})
    for (int pid : testing::rank_pids(needle, rank)) kill(pid, sig);
}

// The steps per epoch a run's header line states ("... 16 steps/epoch of 16 x 2 ranks ...").
int64_t steps_per_epoch(const std::string& log) {
  std::smatch m;
  static const std::regex re(R"(\b(\d+) steps/epoch of )");
  return std::regex_search(log, m, re) ? std::stoll(m[1].str()) : -1;
}

// SCOUTER_FAULT_HOLD (common/step_hold.h) for one hold: `rank` waits before global `step` until
// `release` exists or a stop signal comes.
std::string held(int rank, int64_t step, const std::string& release) {
  return "env SCOUTER_FAULT_HOLD=" + std::to_string(rank) + ":" + std::to_string(step) + ":" + release + " ";
}

// On 512 images (16 steps of each rank an epoch): rank 0 held a quarter into epoch 2 gets
// SIGTERM there, so the run stops after exactly that step, and the resumed run still trains a
// whole epoch after the interrupted one.
TEST_F(DistributedTest, SigtermCheckpointsAndResumeEndsWithTheSameWeights) {
  const std::string data = dir_.file("data");
  testing::write_toy_shards(data, 512, 64, 1, 256);
  auto train = [&](const std::string& out, const std::string& extra) {
    return DistributedTest::train(out, extra, 56, data);
  };
  std::string full = dir_.file("full"), part = dir_.file("part");
  BackgroundCommand a(train(full, "--epochs 3"), dir_.file("full.log"));
  ASSERT_EQ(a.wait(300), 0) << a.log();
  const int64_t spe = steps_per_epoch(a.log());
  ASSERT_GE(spe, 4) << a.log();

  const std::string release = dir_.file("release");
  const int64_t step = spe + spe / 4;
  BackgroundCommand b(held(0, step, release) + train(part, "--epochs 3"), dir_.file("part.log"));
  ASSERT_TRUE(testing::wait_for_file(release + ".held", 300)) << b.log();
  signal_ranks(part, SIGTERM);
  EXPECT_EQ(b.wait(120), 3) << b.log();
  EXPECT_FALSE(file_exists(release));  // the signal, not the file, released the hold
  std::string stopped = latest_checkpoint(part);
  EXPECT_EQ(stopped, checkpoint_path(part, 1, step - spe + 1)) << "not stopped after the held step " << step;
  // Rank 0 names the checkpoint, and where the run stood in its name's terms.
  const TrainState at = read_checkpoint_info(stopped).state;
  EXPECT_EQ(at.global_step, step + 1);
  EXPECT_NE(b.log().find(str_format(
                "stopped by SIGTERM in epoch {}/3 after its step {} ({} epoch{} + {} step{} done): "
                "checkpoint {} written",
                at.epoch + 1, at.step_in_epoch, at.epoch, at.epoch == 1 ? "" : "s", at.step_in_epoch,
                at.step_in_epoch == 1 ? "" : "s", stopped)),
            std::string::npos) << b.log();

  BackgroundCommand c(train(part, "--epochs 3 --resume true"), dir_.file("resume.log"));
  ASSERT_EQ(c.wait(300), 0) << c.log();
  EXPECT_NE(c.log().find("resumed from " + stopped + " (" + std::to_string(at.epoch)), std::string::npos) << c.log();
  auto wa = testing::checkpoint_weights(latest_checkpoint(full)), wb = testing::checkpoint_weights(latest_checkpoint(part));
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, w] : wa) EXPECT_EQ(w, wb.at(name)) << name;  // bitwise
  // The metrics too, exactly: the interrupted epoch's training figures cover the whole epoch
  // (its partial sums travel in the checkpoint), and both ranks validate with rank 0's BatchNorm
  // statistics in both runs.
  auto ma = read_jsonl(full + "/metrics.jsonl"), mb = read_jsonl(part + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), 3u);
  ASSERT_EQ(mb.size(), 3u);
  for (size_t i = 0; i < ma.size(); ++i)
    for (const char* key : {"epoch", "train_loss", "train_nll", "train_attn", "train_acc", "val_loss",
                            "val_acc", "val_area"})
      EXPECT_EQ(ma[i][key], mb[i][key]) << "epoch " << i + 1 << " " << key;
}

// Rank 1, held halfway into epoch 2, is killed there: rank 0 names it from its lifeline as gone
// at that very step and the job ends; the last checkpoint is epoch 1's, every tensor of it
// verifies against its SHA-256, and the run resumes from it to the end.
TEST_F(DistributedTest, KilledRankEndsTheJobAndTheLastCheckpointLoads) {
  const std::string out = dir_.file("killed"), release = dir_.file("release");
  const int64_t spe = 1024 / (16 * 2), step = spe + spe / 2;  // 1024 images, 16 x 2 ranks a step
  BackgroundCommand job(held(1, step, release) + train(out, "--epochs 2 --collective_timeout 30"),
                        dir_.file("killed.log"));
  ASSERT_TRUE(testing::wait_for_file(release + ".held", 300)) << job.log();
  EXPECT_EQ(steps_per_epoch(job.log()), spe) << job.log();
  for (int pid : testing::rank_pids(out, 1)) kill(pid, SIGKILL);
  int status = job.wait(60);
  ASSERT_NE(status, -1) << "job still running 60 s after rank 1 died\n" << job.log();
  EXPECT_NE(status, 0);
  // Rank 0 sees rank 1's lifeline close and names it, with its host, before mpirun ends the job.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_NE(job.log().find(str_format("rank 1 on {} (gone at step {}", std::string(host), step)), std::string::npos)
      << job.log();
  const std::string last = latest_checkpoint(out);
  ASSERT_EQ(last, checkpoint_path(out, 1)) << job.log();
  EXPECT_EQ(verify_checkpoint(last), "");
  BackgroundCommand resumed(train(out, "--epochs 2 --resume true"), dir_.file("resumed.log"));
  ASSERT_EQ(resumed.wait(300), 0) << resumed.log();
  EXPECT_NE(resumed.log().find("resumed from " + last), std::string::npos) << resumed.log();
  EXPECT_EQ(read_jsonl(out + "/metrics.jsonl").size(), 2u);
  EXPECT_TRUE(file_exists(out + "/summary.json"));
}

TEST_F(DistributedTest, StuckRankIsNamedWithinTheTimeout) {
  std::string out = dir_.file("stuck");
  BackgroundCommand job(train(out, "--epochs 20 --collective_timeout 4"), dir_.file("stuck.log"));
  ASSERT_TRUE(testing::wait_for_file(checkpoint_path(out, 1) + ".done", 120)) << job.log();
  for (int pid : testing::rank_pids(out, 1)) kill(pid, SIGSTOP);
  int status = job.wait(60);
  signal_ranks(out, SIGKILL);  // whatever is left
  ASSERT_NE(status, -1) << "no timeout 60 s after rank 1 stopped\n" << job.log();
  EXPECT_EQ(status, 4) << job.log();
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_NE(job.log().find(std::string("rank 1 on ") + host + " (last seen at step"), std::string::npos) << job.log();
  EXPECT_NE(job.log().find("collective_timeout"), std::string::npos) << job.log();
}

bool has_files(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file()) return true;
  return false;
}

// A rank held by SCOUTER_FAULT_HOLD and never released keeps the others waiting in the held
// step's collective, under their collective_timeout: rank 0 names it as not arrived (its
// heartbeats go on: not silent), having last seen it in the step before.
TEST_F(DistributedTest, HeldRankKeepsTheOthersWaitingUntilTheTimeout) {
  std::string out = dir_.file("held");
  const std::string release = dir_.file("release");
  BackgroundCommand job(held(1, 5, release) + train(out, "--epochs 1 --collective_timeout 4", 28),
                        dir_.file("held.log"));
  ASSERT_TRUE(testing::wait_for_file(release + ".held", 120)) << job.log();
  EXPECT_NE(read_text_file(release + ".held").find("\nrank=1\nepoch=1\nstep_in_epoch=5\nstep=5\n"),
            std::string::npos) << read_text_file(release + ".held");
  int status = job.wait(60);
  signal_ranks(out, SIGKILL);  // whatever is left
  ASSERT_NE(status, -1) << "no timeout 60 s after rank 1 was held\n" << job.log();
  EXPECT_EQ(status, 4) << job.log();
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const std::regex named(std::string("at step 5 timed out after 4 s \\(collective_timeout\\): rank 1 on ") +
                         host + " \\(last seen at step 4\\) did not arrive");
  EXPECT_TRUE(std::regex_search(job.log(), named)) << job.log();
  EXPECT_NE(job.log().find("SCOUTER_FAULT_HOLD: held before step 5"), std::string::npos) << job.log();
}

// A malformed SCOUTER_FAULT_HOLD is one clear error before the run starts.
TEST_F(DistributedTest, MalformedHoldIsRefusedAtStart) {
  std::string out = dir_.file("bad");
  auto r = testing::run_command(held(2, 5, dir_.file("release")) + train(out, "--epochs 1", 28));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 2 does not exist in this run of 2 ranks"), std::string::npos) << r.output;
  EXPECT_FALSE(file_exists(out)) << "the run folder was made before the refusal";
}

// "staging train (epoch 1): 3 file(s), ..., 1 already verified" -> {3, 1}
std::pair<int, int> staging_counts(const std::string& log) {
  std::smatch m;
  static const std::regex re(R"(staging train \(epoch 1\): (\d+) file\(s\).* (\d+) already verified)");
  if (!std::regex_search(log, m, re)) return {-1, -1};
  return {std::stoi(m[1].str()), std::stoi(m[2].str())};
}

// The names of the train shard files that ranks 0 .. world-1 read in `epoch` (from 0) by the
// data plan of the run in `run` (its config.toml, its dataset's shards).
std::set<std::string> planned_train_files(const std::string& run, int world, int64_t epoch) {
  Config cfg;
  apply_toml_text(cfg, read_text_file(run + "/config.toml"), run + "/config.toml");
  RunData data = open_run_data(cfg, true, 0, world);
  std::set<std::string> names;
  for (int r = 0; r < world; ++r)
    for (int64_t f : data.plan->rank_shards(epoch, r))
      names.insert(std::filesystem::path(data.train->paths()[static_cast<size_t>(f)]).filename().string());
  return names;
}

// The train shard files staged under `stage` (their names).
std::set<std::string> staged_train_files(const std::string& stage) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::recursive_directory_iterator(stage)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("train-", 0) == 0 && e.path().extension() == ".h5") names.insert(name);
  }
  return names;
}

TEST_F(DistributedTest, StagingSendsOnceAndResendsACorruptedCopy) {
  std::string stage = dir_.file("stage");
  auto run = [&](const std::string& name) {
    BackgroundCommand job(train(dir_.file(name), "--epochs 1 --stage_dir " + stage, 28),
                          dir_.file(name + ".log"));
    EXPECT_EQ(job.wait(300), 0) << job.log();
    return job.log();
  };
  auto first = staging_counts(run("a"));
  // Exactly the train shards the data plan gives this node (every rank: one node) in epoch 1.
  const std::set<std::string> planned = planned_train_files(dir_.file("a"), 2, 0);
  ASSERT_FALSE(planned.empty());
  EXPECT_EQ(first.first, static_cast<int>(planned.size()));
  EXPECT_EQ(first.second, 0);
  EXPECT_EQ(staged_train_files(stage), planned);
  auto second = staging_counts(run("b"));
  EXPECT_EQ(second.first, 0);
  EXPECT_EQ(second.second, first.first);

  // Damage one copy (an odd shard: the one rank 1 read and sent over MPI, if it was needed).
  std::string victim;
  for (const auto& e : std::filesystem::recursive_directory_iterator(stage)) {
    std::string p = e.path().string();
    if (p.find("train-0000") != std::string::npos && p.size() > 3 && p.substr(p.size() - 3) == ".h5") {
      if (victim.empty() || p.find("train-00001") != std::string::npos) victim = p;
    }
  }
  ASSERT_FALSE(victim.empty());
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4000);
    f.write("garbage!", 8);
  }
  auto third = staging_counts(run("c"));
  EXPECT_EQ(third.first, 1);
  EXPECT_EQ(third.second, first.first - 1);
  std::string name = std::filesystem::path(victim).filename().string();
  EXPECT_EQ(sha256_file(victim), sha256_file(data_->file(name)));
}

// stage_dir = "${SCOUTER_TEST_STAGE}/scratch" with the variable set only inside each rank, to a
// different folder per rank (as a wrapper does it, like a node's own $TMPDIR): every rank expands
// it itself, and the ranks of a node stage into their node leader's folder. config.toml keeps the
// text as written, so a requeued job whose ranks have another folder resumes the same run and
// stages into its own.
TEST_F(DistributedTest, StageDirExpandsInEachRank) {
  const std::string wrapper = dir_.file("per_rank.sh");
  testing::write_bytes(wrapper,
                       "#!/bin/sh\n"
                       "export SCOUTER_TEST_STAGE=\"$STAGE_ROOT/rank${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-x}}\"\n"
                       "exec \"$@\"\n");
  ASSERT_EQ(testing::run_command("chmod +x " + wrapper).exit_code, 0);
  const std::string out = dir_.file("env_run");
  auto run = [&](const std::string& root, const std::string& extra, const std::string& log) {
    std::string cmd = train(out, "--stage_dir '${SCOUTER_TEST_STAGE}/scratch' " + extra, 28);
    // STAGE_ROOT reaches the ranks through mpirun's environment; SCOUTER_TEST_STAGE exists only
    // in them.
    cmd.replace(cmd.find(" -np 2 "), 7, " -np 2 " + wrapper + " ");
    BackgroundCommand job("env -u SCOUTER_TEST_STAGE STAGE_ROOT=" + root + " " + cmd, dir_.file(log));
    EXPECT_EQ(job.wait(300), 0) << job.log();
    return job.log();
  };
  const std::string first = run(dir_.file("job1"), "--epochs 1", "env1.log");
  const std::string staged = dir_.file("job1/rank0/scratch");
  EXPECT_NE(first.find("-> " + staged + "/shards-"), std::string::npos) << first;
  EXPECT_TRUE(has_files(staged)) << first;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("job1/rank1"))) << "rank 1 did not use its node leader's folder";
  const std::string toml = read_text_file(out + "/config.toml");
  EXPECT_NE(toml.find("stage_dir = \"${SCOUTER_TEST_STAGE}/scratch\"  # \"" + staged + "\" on "), std::string::npos) << toml;

  // Requeued elsewhere: another folder; the same run resumes, and stages again into the new one.
  const std::string second = run(dir_.file("job2"), "--epochs 2 --resume true", "env2.log");
  EXPECT_NE(second.find("resumed from " + checkpoint_path(out, 1)), std::string::npos) << second;
  EXPECT_NE(second.find("-> " + dir_.file("job2/rank0/scratch") + "/shards-"), std::string::npos) << second;
  // Nothing there to verify: every file this node reads is sent into the new folder.
  EXPECT_TRUE(std::regex_search(second, std::regex(R"(staging train \(epoch 2\): [1-9]\d* file\(s\).* 0 already verified)")))
      << second;
  EXPECT_TRUE(file_exists(out + "/summary.json"));
}

// Every file under `dir` with its size and modification time: what a refused command must leave.
std::map<std::string, std::pair<uintmax_t, std::filesystem::file_time_type>> snapshot(const std::string& dir) {
  std::map<std::string, std::pair<uintmax_t, std::filesystem::file_time_type>> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[e.path().string()] = {e.file_size(), e.last_write_time()};
  return files;
}

// docs/distributed.md: resuming with another world size works from an epoch boundary (a warning
// says the data order differs from then on) and is refused mid-epoch, where the data plan and
// the saved per-rank sums depend on the ranks. A 2-rank run's epoch-1 checkpoint resumes on
// 1 rank to the end of epoch 2; a 2-rank run stopped by SIGTERM while rank 0 is held a quarter
// into epoch 1 is refused on 1 rank (exit 2, the checkpoint and both counts named, the folder
// untouched) and still resumes on 2.
TEST_F(DistributedTest, AnotherWorldSizeResumesFromAnEpochBoundaryOnly) {
  const std::string boundary = dir_.file("boundary");
  BackgroundCommand two(train(boundary, "--epochs 1", 28), dir_.file("boundary.log"));
  ASSERT_EQ(two.wait(300), 0) << two.log();
  BackgroundCommand one(train(boundary, "--epochs 2 --resume true", 28, data_->path(), 1),
                        dir_.file("boundary1.log"));
  ASSERT_EQ(one.wait(300), 0) << one.log();
  EXPECT_NE(one.log().find("resumed from " + checkpoint_path(boundary, 1)), std::string::npos) << one.log();
  EXPECT_NE(one.log().find("resuming a run of 2 ranks with 1 rank: from here the data order "
                           "differs from an uninterrupted run of 2 ranks"),
            std::string::npos) << one.log();
  EXPECT_EQ(read_jsonl(boundary + "/metrics.jsonl").size(), 2u);
  EXPECT_TRUE(file_exists(boundary + "/summary.json"));
  EXPECT_EQ(read_checkpoint_info(latest_checkpoint(boundary)).world_size, 1);

  const std::string mid = dir_.file("mid"), release = dir_.file("release");
  const int64_t spe = 1024 / (16 * 2), step = spe / 4;
  BackgroundCommand b(held(0, step, release) + train(mid, "--epochs 1", 28), dir_.file("mid.log"));
  ASSERT_TRUE(testing::wait_for_file(release + ".held", 300)) << b.log();
  signal_ranks(mid, SIGTERM);
  ASSERT_EQ(b.wait(120), 3) << b.log();
  const std::string stopped = latest_checkpoint(mid);
  ASSERT_EQ(stopped, checkpoint_path(mid, 0, step + 1)) << b.log();
  const auto before = snapshot(mid);
  auto refused = testing::run_command(train(mid, "--epochs 1 --resume true", 28, data_->path(), 1));
  EXPECT_USAGE_ERROR(refused, "checkpoint '" + stopped + "' stopped mid-epoch in a run of 2 ranks; "
                              "this run has 1 rank");
  EXPECT_NE(refused.output.find("resume mid-epoch with 2 ranks"), std::string::npos) << refused.output;
  EXPECT_EQ(snapshot(mid), before) << "the refused command wrote into the run folder";
  BackgroundCommand again(train(mid, "--epochs 1 --resume true", 28), dir_.file("mid2.log"));
  ASSERT_EQ(again.wait(300), 0) << again.log();
  EXPECT_NE(again.log().find("resumed from " + stopped), std::string::npos) << again.log();
}

TEST_F(DistributedTest, SingletonMistakeIsRefused) {
  // What srun without --mpi=pmix looks like: the step says 2 tasks, MPI sees 1.
  auto r = testing::run_command("SLURM_STEP_ID=0 SLURM_STEP_NUM_TASKS=2 " + testing::scouter_bin() +
                                " train --model smallcnn --dataset_dir " + data_->path() +
                                " --output_dir " + dir_.file("x"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("srun --mpi=pmix"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace scouter
