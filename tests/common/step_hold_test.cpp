#include "common/step_hold.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "common/stop_signal.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;

TEST(StepHold, ParsesEveryHoldInOrder) {
  EXPECT_TRUE(StepHolds::parse("", 2).empty());
  StepHolds h = StepHolds::parse("1:40:/tmp/a,0:0:/tmp/x:y", 2);
  ASSERT_EQ(h.holds().size(), 2u);
  EXPECT_EQ(h.holds()[0].rank, 1);
  EXPECT_EQ(h.holds()[0].step, 40);
  EXPECT_EQ(h.holds()[0].file, "/tmp/a");
  EXPECT_EQ(h.holds()[1].rank, 0);
  EXPECT_EQ(h.holds()[1].step, 0);
  EXPECT_EQ(h.holds()[1].file, "/tmp/x:y");  // FILE is everything after the second colon
}

TEST(StepHold, RefusesAMalformedValueNamingTheItem) {
  const std::pair<const char*, const char*> cases[] = {
      {"1:40", "not RANK:STEP:FILE"},
      {"one:40:/tmp/a", "RANK is not a whole number"},
      {"-1:40:/tmp/a", "RANK is not a whole number"},
      {"1:4x:/tmp/a", "STEP is not a whole number"},
      {"1:-2:/tmp/a", "STEP is not a whole number"},
      {"1:40:", "FILE is empty"},
      {"2:40:/tmp/a", "rank 2 does not exist in this run of 2 ranks"},
      {"0:1:/tmp/a,", "not RANK:STEP:FILE"},
  };
  for (const auto& [value, why] : cases) {
    // A copy for the lambda: C++17 lambdas cannot capture a structured binding (clang refuses).
    const char* item = value;
    std::string message = testing::user_error_message([&] { StepHolds::parse(item, 2); });
    EXPECT_NE(message.find(std::string("SCOUTER_FAULT_HOLD='") + value + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(why), std::string::npos) << value << ": " << message;
  }
  // Of several holds, the message names the bad one.
  EXPECT_NE(testing::user_error_message([] { StepHolds::parse("1:40:/tmp/a,1:x:/tmp/b", 2); })
                .find("STEP is not a whole number >= 0 (in '1:x:/tmp/b')"),
            std::string::npos);
  try {
    StepHolds::parse("1:40", 2);
  } catch (const UserError& e) {
    EXPECT_NE(e.hint().find("RANK:STEP[.MICRO]:FILE"), std::string::npos) << e.hint();
  }
}

TEST(StepHold, OtherRanksAndStepsGoOnAtOnce) {
  TempDir dir;
  StepHolds h = StepHolds::parse("1:40:" + dir.file("release"), 2);
  EXPECT_FALSE(h.before_step(0, 40, 2, 8).held);
  EXPECT_FALSE(h.before_step(1, 39, 2, 7).held);
  EXPECT_FALSE(h.before_step(1, 41, 2, 9).held);
  EXPECT_FALSE(file_exists(dir.file("release.held")));
  EXPECT_FALSE(StepHolds().before_step(0, 0, 1, 0).held);
}

// STEP.MICRO holds inside a step of accum_steps micro-batches, at that micro-batch only; a plain
// STEP is its micro-batch 0.
TEST(StepHold, MicroBatchHoldsOnlyThere) {
  TempDir dir;
  const std::string release = dir.file("release");
  StepHolds h = StepHolds::parse("0:40.2:" + release + ",1:7:" + release, 2);
  ASSERT_EQ(h.holds().size(), 2u);
  EXPECT_EQ(h.holds()[0].step, 40);
  EXPECT_EQ(h.holds()[0].micro, 2);
  EXPECT_EQ(h.holds()[1].micro, 0);
  EXPECT_FALSE(h.before_step(0, 40, 2, 8, 0).held);
  EXPECT_FALSE(h.before_step(0, 40, 2, 8, 1).held);
  EXPECT_FALSE(h.before_step(1, 7, 1, 7, 1).held);
  EXPECT_FALSE(file_exists(release + ".held"));
  testing::write_bytes(release, "");  // released already: the matching holds go on at once
  EXPECT_TRUE(h.before_step(0, 40, 2, 8, 2).held);
  EXPECT_NE(read_text_file(release + ".held").find("\nstep=40\nmicro=2\n"), std::string::npos);
  EXPECT_TRUE(h.before_step(1, 7, 1, 7, 0).held);
  for (const char* bad : {"0:40.:f", "0:40.x:f", "0:40.-1:f", "0:.2:f"})
    EXPECT_THROW(StepHolds::parse(bad, 1), UserError) << bad;
}

// Creates `release` once `release.held` exists; `released` says that it did.
std::thread releaser(const std::string& release, std::atomic<bool>& released) {
  return std::thread([release, &released] {
    while (!file_exists(release + ".held")) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the hold must still be waiting
    released = true;
    testing::write_bytes(release, "");
  });
}

TEST(StepHold, HoldsUntilTheFileExistsAndSaysWhereItHeld) {
  TempDir dir;
  const std::string release = dir.file("release");
  StepHolds h = StepHolds::parse("1:40:" + release, 2);
  std::atomic<bool> released{false};
  std::thread t = releaser(release, released);
  HoldRelease r = h.before_step(1, 40, 2, 8, /*micro_batch=*/0, /*poll_ms=*/5);
  const bool returned_after_release = released;
  t.join();
  EXPECT_TRUE(r.held);
  EXPECT_EQ(r.signal, 0);
  EXPECT_TRUE(returned_after_release) << "the hold ended before its file existed";
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_EQ(read_text_file(release + ".held"),
            std::string("host=") + host + "\npid=" + std::to_string(getpid()) +
                "\nrank=1\nepoch=2\nstep_in_epoch=8\nstep=40\nmicro=0\n");
  // A release file that exists already lets the step go on at once.
  EXPECT_TRUE(h.before_step(1, 40, 2, 8).held);
}

// A stop request releases a hold (the handlers of stop_signal.h, restored afterwards).
TEST(StepHold, AStopSignalReleasesTheHold) {
  const int signals[] = {SIGTERM, SIGUSR1, SIGINT, SIGHUP};
  struct sigaction before[4];
  for (int i = 0; i < 4; ++i) sigaction(signals[i], nullptr, &before[i]);
  install_stop_handlers();
  clear_stop_request();
  TempDir dir;
  const std::string release = dir.file("release");
  StepHolds h = StepHolds::parse("0:3:" + release, 1);
  std::thread t([&] {
    while (!file_exists(release + ".held")) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    kill(getpid(), SIGUSR1);
  });
  HoldRelease r = h.before_step(0, 3, 1, 3, /*micro_batch=*/0, /*poll_ms=*/5);
  t.join();
  EXPECT_TRUE(r.held);
  EXPECT_EQ(r.signal, SIGUSR1);
  EXPECT_FALSE(file_exists(release));
  clear_stop_request();
  for (int i = 0; i < 4; ++i) sigaction(signals[i], &before[i], nullptr);
}

}  // namespace
}  // namespace scouter
