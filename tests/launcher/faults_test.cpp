// The fault-injection suite: `scouter train` as a process, hit the ways a cluster hits
// it, and each time nothing is lost and the run still ends exactly where an uninterrupted run
// ends.
//   - kills at every stage: inside a checkpoint write, between a checkpoint and its completion
//     marker, inside summary.json, and SIGKILL before seeded random steps (fault hooks
//     SCOUTER_FAULT_KILL_IN_WRITE / _AFTER_WRITE in common/files.cpp and SCOUTER_FAULT_HOLD in
//     common/step_hold.h make them exact);
//   - a full disk (a small tmpfs, sizes from 10% to 80% of what the run writes);
//   - a second writer into the same folder, SIGINT and SIGHUP, a signal right after start;
//   - a non-finite loss;
//   - a file system without flock (fault hook SCOUTER_FAULT_FLOCK_ERRNO in common/run_lock.cpp).
// Flipped bytes in checkpoints are in tests/worker/train/ (checkpoint_test, run_integrity_test),
// flipped bytes in shards in tests/datasets/.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "common/files.h"
#include "common/format.h"
#include "common/lock_file.h"
#include "common/metrics_log.h"
#include "common/run_lock.h"
#include "test_util.h"
#include "worker/toy_data.h"
#include "worker/run/checkpoint.h"

namespace scouter {
namespace {

using testing::BackgroundCommand;
using testing::TempDir;
namespace fs = std::filesystem;

// The stop message names the checkpoint it wrote and where the run stood, in the terms of the
// checkpoint's own attributes: the epoch in progress counted from 1 as the logs count it
// ("epoch 7/10"), and "6 epochs + 4 steps done" as the name epoch-0006-step-0000004 says.
void expect_stop_message(const std::string& log, const std::string& checkpoint, int64_t epochs,
                         const std::string& signal) {
  const TrainState s = read_checkpoint_info(checkpoint).state;
  ASSERT_GT(s.step_in_epoch, 0) << checkpoint;
  EXPECT_EQ(fs::path(checkpoint).filename().string(),
            str_format("epoch-{:04d}-step-{:07d}.h5", s.epoch, s.step_in_epoch));
  const std::string expected = str_format(
      "stopped by {} in epoch {}/{} after its step {} ({} epoch{} + {} step{} done): checkpoint "
      "{} written",
      signal, s.epoch + 1, epochs, s.step_in_epoch, s.epoch, s.epoch == 1 ? "" : "s",
      s.step_in_epoch, s.step_in_epoch == 1 ? "" : "s", checkpoint);
  EXPECT_NE(log.find(expected), std::string::npos) << "expected: " << expected << "\n" << log;
}

class FaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir;
    testing::write_toy_shards(data_->path(), 1024, 128);
  }
  static void TearDownTestSuite() { delete data_; }

  // `extra` may set --lr (1e-3 otherwise): the command line refuses an option given twice.
  std::string train(const std::string& out, const std::string& extra = "",
                    const std::string& data = data_->path()) const {
    const std::string lr = extra.find("--lr ") == std::string::npos ? " --lr 1e-3" : "";
    return testing::scouter_bin() +
           " train --model smallcnn --num_classes 4 --img_size 28 --batch_size 32 --threads 1"
           " --slots_per_class 1 --keep_checkpoints 2 --dataset_dir " +
           data + " --output_dir " + out + lr + " " + extra;
  }

  static TempDir* data_;
  TempDir dir_;
};
TempDir* FaultsTest::data_ = nullptr;

std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(e.path().string());
  return found;
}

void expect_same_run(const std::string& a, const std::string& b) {
  auto wa = testing::checkpoint_weights(latest_checkpoint(a));
  auto wb = testing::checkpoint_weights(latest_checkpoint(b));
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, w] : wa) EXPECT_EQ(w, wb.at(name)) << name;  // bitwise
  auto ma = read_jsonl(a + "/metrics.jsonl"), mb = read_jsonl(b + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), mb.size()) << "one record per epoch";
  for (size_t i = 0; i < ma.size(); ++i)
    for (const char* key : {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_area"})
      EXPECT_EQ(ma[i][key], mb[i][key]) << "epoch " << i + 1 << " " << key;
  EXPECT_TRUE(file_exists(b + "/summary.json"));
}

// Killed inside the first checkpoint write, between a checkpoint and its marker, inside
// summary.json, and at seeded random steps: every resume ends with the uninterrupted weights and
// metrics, one record per epoch, no temporary left.
TEST_F(FaultsTest, KillsAtEveryStageResumeToTheUninterruptedResult) {
  const std::string ref = dir_.file("ref"), run = dir_.file("run");
  BackgroundCommand full(train(ref, "--epochs 3"), dir_.file("ref.log"));
  ASSERT_EQ(full.wait(300), 0) << full.log();

  auto killed_at = [&](const std::string& hook, const std::string& file, const std::string& extra) {
    auto r = testing::run_command(hook + "=" + file + " " + train(run, "--epochs 3 " + extra));
    EXPECT_EQ(r.exit_code, 128 + SIGKILL) << hook << " " << file << "\n" << r.output;
  };
  killed_at("SCOUTER_FAULT_KILL_IN_WRITE", "epoch-0001.h5", "");
  EXPECT_TRUE(list_checkpoints(run).empty());
  EXPECT_FALSE(temporaries(run).empty()) << "the kill was meant to leave a half-written file";
  killed_at("SCOUTER_FAULT_KILL_AFTER_WRITE", "epoch-0002.h5", "--resume true");
  EXPECT_EQ(latest_checkpoint(run), checkpoint_path(run, 1));  // epoch 2 has no marker
  killed_at("SCOUTER_FAULT_KILL_IN_WRITE", "summary.json", "--resume true");
  EXPECT_FALSE(file_exists(run + "/summary.json"));

  // A fresh run killed again and again, each attempt resuming the one before, while held
  // (SCOUTER_FAULT_HOLD) before a step chosen here, seeded so every run of the test picks the
  // same: inside epoch 1 (nothing saved yet), epoch 2's first step (right after epoch 1's
  // checkpoint), inside epoch 2, inside epoch 3. Each kill lands where it is meant to: the exit
  // is the kill's, and the newest checkpoint is that of the last epoch done before the step.
  const TrainState end = read_checkpoint_info(latest_checkpoint(ref)).state;
  ASSERT_EQ(end.epoch, 3);
  const int64_t spe = end.global_step / end.epoch;
  ASSERT_GE(spe, 4);
  std::mt19937 gen(13);
  auto inside = [&](int64_t epoch) {  // a step of `epoch` (from 0) other than its first
    return std::uniform_int_distribution<int64_t>(epoch * spe + 1, epoch * spe + spe - 1)(gen);
  };
  const std::string again = dir_.file("again");
  for (int64_t step : {inside(0), spe, inside(1), inside(2)}) {
    SCOPED_TRACE("held before step " + std::to_string(step));
    const std::string release = dir_.file("release-" + std::to_string(step));
    BackgroundCommand job("env SCOUTER_FAULT_HOLD=0:" + std::to_string(step) + ":" + release + " " +
                              train(again, "--epochs 3 --resume true"),
                          dir_.file("again-" + std::to_string(step) + ".log"));
    ASSERT_TRUE(testing::wait_for_file(release + ".held", 300)) << job.log();
    job.signal(SIGKILL);
    EXPECT_EQ(job.wait(60), 128 + SIGKILL) << job.log();
    const int64_t done = step / spe;  // epochs completed before the held step
    EXPECT_EQ(latest_checkpoint(again), done == 0 ? std::string() : checkpoint_path(again, done));
  }
  for (const std::string& out : {run, again}) {
    auto r = testing::run_command(train(out, "--epochs 3 --resume true"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    SCOPED_TRACE(out);
    expect_same_run(ref, out);
    EXPECT_EQ(temporaries(out), std::vector<std::string>{});
  }
}

// A tmpfs far too small for the run: one line naming the file and "No space left on device",
// exit 2, no crash, and every checkpoint under its final name verifies. With room again the run
// resumes to the uninterrupted result. What the run writes hardly depends on the number of
// images (checkpoints dominate), so it trains on 256 of them: 9 runs here.
TEST_F(FaultsTest, DiskFullIsOneLineAndLeavesNothingThatDoesNotVerify) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root (CI runs as root)";
  const std::string data = dir_.file("data");
  testing::write_toy_shards(data, 256, 64);
  auto train = [&](const std::string& out, const std::string& extra) {
    return FaultsTest::train(out, extra, data);
  };
  const std::string ref = dir_.file("ref");
  ASSERT_EQ(testing::run_command(train(ref, "--epochs 2")).exit_code, 0);
  uint64_t needed = 0;
  for (const auto& e : fs::recursive_directory_iterator(ref))
    if (e.is_regular_file()) needed += e.file_size();
  const std::string mnt = dir_.file("small");
  ensure_dir(mnt);
  struct Unmount {  // a failed assertion must not leave the tmpfs mounted
    std::string path;
    bool mounted = false;
    ~Unmount() {
      if (mounted) ::umount2(path.c_str(), MNT_DETACH);
    }
  } guard{mnt};
  int full = 0;
  for (double fraction : {0.1, 0.3, 0.5, 0.8}) {
    SCOPED_TRACE(fraction);
    const uint64_t size = std::max<uint64_t>(16384, static_cast<uint64_t>(needed * fraction)) / 4096 * 4096;
    const std::string opts = "size=" + std::to_string(size);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, opts.c_str()) != 0)
      GTEST_SKIP() << "mount of a tmpfs refused here: " << std::strerror(errno);
    guard.mounted = true;
    const std::string out = mnt + "/run";
    auto r = testing::run_command(train(out, "--epochs 2"));
    if (r.exit_code != 0) {
      ++full;
      EXPECT_EQ(r.exit_code, 2) << r.output;
      EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("'" + out), std::string::npos) << "the file is named\n" << r.output;
    }
    for (const auto& e : fs::recursive_directory_iterator(mnt)) {
      std::string p = e.path().string();
      if (p.size() > 3 && p.substr(p.size() - 3) == ".h5") {
        EXPECT_EQ(verify_checkpoint(p), "") << p;
      }
    }
    // Room again: the same command with --resume true finishes the run exactly.
    ASSERT_EQ(::mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT, "size=64m"), 0) << std::strerror(errno);
    auto resumed = testing::run_command(train(out, "--epochs 2 --resume true"));
    EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
    expect_same_run(ref, out);
    ASSERT_EQ(::umount(mnt.c_str()), 0) << std::strerror(errno);
    guard.mounted = false;
  }
  EXPECT_GE(full, 3) << "the small sizes were meant to fill up";
}

// A second writer is refused (naming the first) while the first runs, without touching the
// folder; Ctrl-C (SIGINT) then stops the first with a verified checkpoint and exit 3.
TEST_F(FaultsTest, SecondWriterIsRefusedAndSigintCheckpoints) {
  const std::string run = dir_.file("run");
  BackgroundCommand first(train(run, "--epochs 50"), dir_.file("first.log"));
  ASSERT_TRUE(testing::wait_for_file(checkpoint_path(run, 1) + ".done", 120)) << first.log();
  const std::string config = read_text_file(run + "/config.toml");
  auto second = testing::run_command(train(run, "--epochs 50 --lr 5e-4"));
  EXPECT_USAGE_ERROR(second, "is in use by another scouter process (pid ");
  EXPECT_EQ(read_text_file(run + "/config.toml"), config);
  first.signal(SIGINT);
  EXPECT_EQ(first.wait(120), 3) << first.log();
  const std::string last = latest_checkpoint(run);
  EXPECT_NE(last.find("-step-"), std::string::npos) << last;
  EXPECT_EQ(verify_checkpoint(last), "");
  expect_stop_message(first.log(), last, 50, "SIGINT");
}

// SIGHUP (a closed terminal), and SIGTERM as soon as the process says it started: both end with
// a checkpoint and the requeue status 3.
TEST_F(FaultsTest, HangupAndEarlySigtermEndWithTheRequeueStatus) {
  for (int sig : {SIGHUP, SIGTERM}) {
    SCOPED_TRACE(sig);
    const std::string out = dir_.file("sig" + std::to_string(sig));
    BackgroundCommand job(train(out, "--epochs 20"), out + ".log");
    // "train on 1 node" is the first line, logged after the handlers are installed.
    const double deadline = job.seconds_running() + 60;
    while (job.log().find("train on") == std::string::npos && job.seconds_running() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (sig == SIGHUP) {
      ASSERT_TRUE(testing::wait_for_file(checkpoint_path(out, 1) + ".done", 120)) << job.log();
    }
    job.signal(sig);
    EXPECT_EQ(job.wait(120), 3) << job.log();
    ASSERT_FALSE(latest_checkpoint(out).empty());
    expect_stop_message(job.log(), latest_checkpoint(out), 20, sig == SIGHUP ? "SIGHUP" : "SIGTERM");
  }
}

// lr 1e6: the loss stops being finite in the first epoch; exit 5, the step and the term named,
// nothing saved, the run not marked complete.
TEST_F(FaultsTest, NonFiniteLossExitsFiveNamingTheStepAndTheTerm) {
  const std::string out = dir_.file("nan");
  auto r = testing::run_command(train(out, "--epochs 2 --lr 1e6"));
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("training diverged at step"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stopped being finite"), std::string::npos) << r.output;
  EXPECT_TRUE(list_checkpoints(out).empty());
  EXPECT_FALSE(file_exists(out + "/summary.json"));
}

// A file system without flock (the fault hook makes flock fail with ENOLCK, as Lustre without
// -o flock or NFS without lockd do): with lock = "auto" the run says so and locks with the lock
// file, which it removes at the end; a live holder's file refuses a second writer naming it, a
// file left by a dead process on this host or by another host's silent one is taken over with a
// warning, another host's fresh one is not; lock = "flock" refuses with the OS's reason and
// lock = "none" warns.
TEST_F(FaultsTest, WithoutFlockTheRunLocksWithTheLockFile) {
  const std::string hook = "SCOUTER_FAULT_FLOCK_ERRNO=ENOLCK ";
  const std::string run = dir_.file("noflock"), held = run + "/.lock.held";
  auto ran = testing::run_command(hook + train(run, "--epochs 1"));
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_NE(ran.output.find("this file system does not support flock (" + run +
                            ": No locks available); output_dir is locked by the lock file " +
                            held + " instead"),
            std::string::npos) << ran.output;
  EXPECT_TRUE(file_exists(run + "/summary.json"));
  EXPECT_FALSE(file_exists(held)) << "the lock file outlived its run";

  // A live holder (this process) refuses a second writer, naming it.
  const std::string next = dir_.file("held");
  ensure_dir(next);
  {
    auto holder = FolderLock::acquire(next, 0, "scouter train (the first writer)", "file");
    auto refused = testing::run_command(hook + train(next, "--epochs 1"));
    EXPECT_USAGE_ERROR(refused, "is in use by another scouter process (pid " +
                                    std::to_string(::getpid()) + " on ");
    EXPECT_NE(refused.output.find("the first writer"), std::string::npos) << refused.output;
    EXPECT_FALSE(file_exists(next + "/config.toml"));
  }

  // Left by a process that died on this host: taken over at once.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  LockHolder dead = this_process("scouter train (died)");
  dead.pid = child;
  testing::write_bytes(next + "/.lock.held", holder_file_text(dead));
  ran = testing::run_command(hook + train(next, "--epochs 1"));
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_NE(ran.output.find("took over the lock file " + next + "/.lock.held from " +
                            dead.describe() + ": pid " + std::to_string(child) + " no longer runs"),
            std::string::npos) << ran.output;

  // Another host's: refused while its heartbeat is fresh, taken over once it is older than
  // kStaleHeartbeats heartbeats.
  LockHolder other = this_process("scouter train (on another node)");
  other.host = "another-node";
  const std::string far = dir_.file("far"), far_held = far + "/.lock.held";
  ensure_dir(far);
  testing::write_bytes(far_held, holder_file_text(other));
  EXPECT_USAGE_ERROR(testing::run_command(hook + train(far, "--epochs 1")), other.describe());
  timespec old[2];
  ::clock_gettime(CLOCK_REALTIME, &old[0]);
  old[0].tv_sec -= static_cast<time_t>(2 * LockFile::kStaleHeartbeats * LockFile::kHeartbeatSeconds);
  old[1] = old[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, far_held.c_str(), old, 0), 0);
  ran = testing::run_command(hook + train(far, "--epochs 1"));
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_NE(ran.output.find("took over the lock file " + far_held + " from " + other.describe() +
                            ": no heartbeat for"),
            std::string::npos) << ran.output;

  // lock = "flock" refuses; lock = "none" warns and runs.
  EXPECT_USAGE_ERROR(testing::run_command(hook + train(dir_.file("flock"), "--epochs 1 --lock flock")),
                     "(lock = \"flock\"): flock: No locks available");
  ran = testing::run_command(hook + train(dir_.file("none"), "--epochs 1 --lock none"));
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_NE(ran.output.find("lock = \"none\": output_dir " + dir_.file("none") + " is not locked"),
            std::string::npos) << ran.output;
}

// A local sweep stopped with SIGTERM (as a batch system stops a job) or Ctrl-C: mpirun cannot
// forward SIGTERM (it aborts and exits 1), so the sweep passes SIGUSR1 on; the run checkpoints,
// the sweep exits 3, and running the sweep again finishes it. The signal comes while rank 0 is
// held (SCOUTER_FAULT_HOLD) before global step 8, a quarter into epoch 1 (1024 images / (16 x 2
// ranks) = 32 steps an epoch), so the run stops after exactly that step.
TEST_F(FaultsTest, SweepStoppedBySigtermEndsWithTheRequeueStatus) {
  const std::string dir = dir_.file("sweep");
  ensure_dir(dir);
  write_text_file_atomic(dir + "/s.toml",
      "[sweep]\nname = \"s\"\ndir = \"" + dir + "/runs\"\nexplain_images = 0\n"
      "[resources]\nranks = 2\nranks_per_node = 2\nthreads_per_rank = 1\n"
      "[defaults]\ndataset = \"MNIST\"\ndataset_dir = \"" + data_->path() + "\"\n"
      "model = \"smallcnn\"\nnum_classes = 4\nimg_size = 56\nbatch_size = 16\nepochs = 3\n"
      "threads = 1\n[runs.fc]\nuse_slot = false\n");
  const std::string release = dir + "/release";
  BackgroundCommand sweep("env SCOUTER_FAULT_HOLD=0:8:" + release + " " + testing::scouter_bin() +
                              " sweep " + dir + "/s.toml",
                          dir + "/sweep.log");
  const std::string run = dir + "/runs/fc";
  ASSERT_TRUE(testing::wait_for_file(release + ".held", 180)) << sweep.log();
  sweep.signal(SIGTERM);
  EXPECT_EQ(sweep.wait(120), 3) << sweep.log();
  EXPECT_NE(sweep.log().find("stopped by a signal"), std::string::npos) << sweep.log();
  EXPECT_EQ(latest_checkpoint(run), checkpoint_path(run, 0, 9)) << "not stopped after the held step";
  expect_stop_message(read_text_file(run + "/train.log"), checkpoint_path(run, 0, 9), 3, "SIGUSR1");
  EXPECT_FALSE(file_exists(run + "/summary.json"));
  auto again = testing::run_command(testing::scouter_bin() + " sweep " + dir + "/s.toml");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(file_exists(run + "/summary.json"));
  EXPECT_EQ(read_jsonl(run + "/metrics.jsonl").size(), 3u);
}

// OpenMP threads spin only briefly at barriers (launcher/main.cpp sets GOMP_SPINCOUNT before
// libgomp loads), unless the user chose a wait policy; the run header says which.
TEST_F(FaultsTest, OpenMpSpinningIsBoundedUnlessTheUserChose) {
  auto ours = testing::run_command("env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY " +
                                   train(dir_.file("a"), "--epochs 1"));
  ASSERT_EQ(ours.exit_code, 0) << ours.output;
  EXPECT_NE(ours.output.find("threads/rank (GOMP_SPINCOUNT=10000)"), std::string::npos) << ours.output;
  auto theirs = testing::run_command("env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=ACTIVE " +
                                     train(dir_.file("b"), "--epochs 1"));
  ASSERT_EQ(theirs.exit_code, 0) << theirs.output;
  EXPECT_NE(theirs.output.find("threads/rank (OMP_WAIT_POLICY=ACTIVE)"), std::string::npos) << theirs.output;
}

}  // namespace
}  // namespace scouter
