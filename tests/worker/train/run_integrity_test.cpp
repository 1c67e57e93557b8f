// Nothing in a run folder is lost or mixed up, in-process: a refused command changes
// nothing, a second writer is refused, a non-finite loss stops at once keeping the last finite
// checkpoint, a corrupt newest checkpoint is passed over on resume, metrics.jsonl keeps exactly
// one record per epoch. Faults that need a separate process (kills, disk full, signals) are in
// tests/launcher/faults_test.cpp.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/metrics_log.h"
#include "common/run_lock.h"
#include "test_util.h"
#include "worker/toy_data.h"
#include "worker/run/checkpoint.h"
#include "worker/train/trainer.h"

namespace scouter {
namespace {

using testing::TempDir;
using testing::toy_config;
namespace fs = std::filesystem;

// Every file below `dir` with its bytes and modification time.
std::map<std::string, std::pair<std::string, int64_t>> snapshot(const std::string& dir) {
  std::map<std::string, std::pair<std::string, int64_t>> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    auto mtime = e.last_write_time().time_since_epoch().count();
    out[e.path().string()] = {read_text_file(e.path().string()), static_cast<int64_t>(mtime)};
  }
  return out;
}

class RunIntegrityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir;
    testing::write_toy_shards(data_->path(), 512, 128);
  }
  static void TearDownTestSuite() { delete data_; }
  Config config(const std::string& name) const {
    Config c = toy_config(data_->path(), out_.file(name));
    c.epochs = 1;
    return c;
  }
  static TempDir* data_;
  TempDir out_;
};
TempDir* RunIntegrityTest::data_ = nullptr;

// A resume with another model configuration, and a second start without resume, are refused
// and leave every file of the run as it was (config.toml once became the refused config).
TEST_F(RunIntegrityTest, RefusedCommandsChangeNothingInTheFolder) {
  Config c = config("run");
  train_run(c);
  auto before = snapshot(c.output_dir);
  ASSERT_TRUE(before.count(c.output_dir + "/config.toml"));

  Config fc = c;
  fc.use_slot = false;
  fc.resume = true;
  EXPECT_NE(testing::user_error_message([&] { train_run(fc); }).find("different model configuration"), std::string::npos);
  EXPECT_NE(testing::user_error_message([&] { train_run(c); }).find("already holds a run"), std::string::npos);
  bool started = false;
  Config more = c;
  more.resume = true;
  more.use_slot = false;
  EXPECT_THROW(train_run(more, {}, {}, [&] { started = true; }), UserError);
  EXPECT_FALSE(started) << "the start hook ran for a refused command";
  EXPECT_EQ(snapshot(c.output_dir), before);
}

// While another process holds the folder, a second writer is refused before writing anything,
// and the message names the holder; once it lets go, the run starts.
TEST_F(RunIntegrityTest, SecondWriterIsRefusedWhileTheFolderIsHeld) {
  Config c = config("held");
  ensure_dir(c.output_dir);
  auto holder = FolderLock::acquire(c.output_dir, 0, "scouter train (the first writer)");
  holder->record_holder();
  std::string msg = testing::user_error_message([&] { train_run(c); });
  EXPECT_NE(msg.find("is in use by another scouter process"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the first writer"), std::string::npos) << msg;
  EXPECT_FALSE(file_exists(c.output_dir + "/config.toml"));
  EXPECT_FALSE(file_exists(c.output_dir + "/checkpoints"));
  holder.reset();
  EXPECT_EQ(train_run(c).epochs_run, 1);
  // The lock now names this process.
  EXPECT_NE(read_text_file(c.output_dir + "/.lock").find("pid " + std::to_string(::getpid())),
            std::string::npos);
}

// lr 1e6 makes the loss non-finite: training stops at that step, nothing is saved after it (the
// epoch-1 checkpoint stays the newest and verifies), no summary marks the run complete, and
// metrics.jsonl holds only the finite epoch; resumed with a sane lr it completes exactly.
TEST_F(RunIntegrityTest, NonFiniteLossStopsAtOnceAndKeepsTheLastFiniteCheckpoint) {
  Config c = config("nan");
  train_run(c);
  const std::string good = latest_checkpoint(c.output_dir);
  c.epochs = 3;
  c.resume = true;
  c.lr = 1e6;
  TrainResult r = train_run(c);
  EXPECT_TRUE(r.diverged);
  EXPECT_EQ(r.epochs_run, 0);
  EXPECT_EQ(list_checkpoints(c.output_dir), std::vector<std::string>{good});
  EXPECT_EQ(verify_checkpoint(good), "");
  EXPECT_FALSE(file_exists(c.output_dir + "/summary.json"));
  EXPECT_EQ(read_jsonl(c.output_dir + "/metrics.jsonl").size(), 1u);

  // Resumed with the lr it should have had, the run ends where an uninterrupted one ends.
  c.lr = 1e-3;
  EXPECT_EQ(train_run(c).epochs_run, 2);
  Config straight = config("straight");
  straight.epochs = 3;
  train_run(straight);
  auto a = testing::checkpoint_weights(latest_checkpoint(straight.output_dir));
  auto b = testing::checkpoint_weights(latest_checkpoint(c.output_dir));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, v] : a) EXPECT_EQ(v, b.at(name)) << name;  // bitwise
  EXPECT_EQ(read_jsonl(c.output_dir + "/metrics.jsonl").size(), 3u);
}

// The newest checkpoint has 64 flipped bytes: resume warns, starts from the one before, and ends
// bitwise where an uninterrupted run ends, with one metrics record per epoch.
TEST_F(RunIntegrityTest, CorruptNewestCheckpointIsPassedOverOnResume) {
  Config full = config("full");
  full.epochs = 2;
  train_run(full);

  Config part = config("part");
  part.epochs = 2;
  part.keep_checkpoints = 2;
  train_run(part);
  const std::string newest = checkpoint_path(part.output_dir, 2);
  auto weights = testing::checkpoint_weights(newest);
  const auto& w = weights.at("slot.gru.weight_hh_l0");
  std::string needle(reinterpret_cast<const char*>(w.data()), 256);
  std::string bytes = read_text_file(newest);
  size_t at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  for (size_t i = 0; i < 64; ++i) bytes[at + i] = static_cast<char>(bytes[at + i] ^ 0x5a);
  testing::write_bytes(newest, bytes);

  part.resume = true;
  TrainResult r = train_run(part);
  EXPECT_EQ(r.epochs_run, 1);  // epoch 2 again, from epoch 1's checkpoint
  auto a = testing::checkpoint_weights(latest_checkpoint(full.output_dir));
  auto b = testing::checkpoint_weights(latest_checkpoint(part.output_dir));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, v] : a) EXPECT_EQ(v, b.at(name)) << name;  // bitwise
  auto metrics = read_jsonl(part.output_dir + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_EQ(metrics[0]["epoch"], 1);
  EXPECT_EQ(metrics[1]["epoch"], 2);
}

// A run killed after writing an epoch's record but before its checkpoint leaves a record that
// no checkpoint holds; a torn line too. A fresh start (or a resume) keeps only the epochs its
// checkpoint has, and removes temporaries of writes whose process is gone.
TEST_F(RunIntegrityTest, MetricsHoldOneRecordPerEpochAndStaleTemporariesGo) {
  Config c = config("metrics");
  ensure_dir(c.output_dir + "/checkpoints");
  testing::write_bytes(c.output_dir + "/metrics.jsonl", "{\"epoch\": 1, \"val_acc\": 0.1}\n{\"epo");
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid that no longer runs
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const std::string stale = checkpoint_path(c.output_dir, 1) + ".tmp." + host + "." +
                            std::to_string(child) + ".0";
  const std::string live = checkpoint_path(c.output_dir, 1) + ".tmp." + host + "." +
                            std::to_string(::getppid()) + ".0";
  testing::write_bytes(stale, "half a checkpoint");
  testing::write_bytes(live, "another process is writing this");
  train_run(c);
  auto metrics = read_jsonl(c.output_dir + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_TRUE(metrics[0].contains("train_loss"));  // this run's record, not the stale one
  EXPECT_FALSE(file_exists(stale));
  EXPECT_TRUE(file_exists(live));
}

}  // namespace
}  // namespace scouter
