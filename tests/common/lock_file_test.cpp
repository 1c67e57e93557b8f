// The lock file of file systems without flock (common/lock_file.h): one holder at a time, named
// in the refusal; a holder that is gone is taken over with a warning (a dead or reused pid on
// this host at once, another host's only without heartbeat); the holder's heartbeat keeps its
// file fresh; of two contenders for a stale file exactly one takes it.
#include "common/lock_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <thread>

#include "common/files.h"
#include "common/log.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;

class LockFileTest : public ::testing::Test {
 protected:
  void SetUp() override { init_logging(0, "info"); }
  std::string path() const { return dir_.file(".lock.held"); }

  // Writes a holder's file as another process would have left it, `age_s` seconds old.
  void leave(const LockHolder& h, double age_s = 0) const {
    testing::write_bytes(path(), holder_file_text(h));
    set_age(age_s);
  }
  void set_age(double age_s) const {
    timespec t[2];
    ::clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= static_cast<time_t>(age_s);
    t[1] = t[0];
    ASSERT_EQ(::utimensat(AT_FDCWD, path().c_str(), t, 0), 0);
  }
  double age_s() const {
    struct stat st;
    timespec now;
    ::clock_gettime(CLOCK_REALTIME, &now);
    if (::stat(path().c_str(), &st) != 0) return -1;
    return static_cast<double>(now.tv_sec - st.st_mtim.tv_sec);
  }

  // The attempt's result and what it logged.
  std::unique_ptr<LockFile> attempt(const std::string& command, std::string* holder,
                                    std::string* logged = nullptr) const {
    ::testing::internal::CaptureStderr();
    auto lock = LockFile::try_acquire(path(), command, holder);
    log::flush();
    std::string out = ::testing::internal::GetCapturedStderr();
    if (logged) *logged = out;
    return lock;
  }

  TempDir dir_;
};

TEST_F(LockFileTest, HolderFileRoundTrips) {
  LockHolder me = this_process("scouter train\nsecond line");
  EXPECT_EQ(me.pid, ::getpid());
  EXPECT_GT(me.start_ticks, 0);
  EXPECT_EQ(me.start_ticks, process_start_ticks(::getpid()));
  EXPECT_EQ(me.command, "scouter train second line");  // one line in the file
  EXPECT_FALSE(me.boot_id.empty());
  const std::string text = holder_file_text(me);
  EXPECT_EQ(text.substr(0, text.find('\n')), me.describe());
  auto back = parse_holder_file(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->describe(), me.describe());
  EXPECT_EQ(back->boot_id, me.boot_id);
  EXPECT_EQ(back->start_ticks, me.start_ticks);
  EXPECT_FALSE(parse_holder_file(""));
  EXPECT_FALSE(parse_holder_file("pid 1 on x since y: z\nhost=x\n"));  // no pid
}

TEST_F(LockFileTest, ASecondContenderIsRefusedNamingTheHolderUntilItLetsGo) {
  std::string holder;
  auto first = attempt("scouter train (first)", &holder);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->path(), path());
  EXPECT_EQ(parse_holder_file(read_text_file(path()))->command, "scouter train (first)");
  EXPECT_FALSE(attempt("scouter train (second)", &holder));
  EXPECT_EQ(holder, parse_holder_file(read_text_file(path()))->describe());
  EXPECT_NE(holder.find("pid " + std::to_string(::getpid()) + " on "), std::string::npos) << holder;
  EXPECT_NE(holder.find(": scouter train (first)"), std::string::npos) << holder;
  first.reset();
  EXPECT_FALSE(file_exists(path())) << "the holder removes its file when it ends";
  EXPECT_TRUE(attempt("scouter train (second)", &holder));
}

// A pid that ended on this host: taken over at once, however fresh the file.
TEST_F(LockFileTest, ADeadProcessFileOnThisHostIsTakenOver) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  LockHolder dead = this_process("scouter train (died)");
  dead.pid = child;
  leave(dead);
  std::string holder, logged;
  auto lock = attempt("scouter train (next)", &holder, &logged);
  ASSERT_TRUE(lock) << holder;
  EXPECT_NE(logged.find("took over the lock file " + path() + " from " + dead.describe()),
            std::string::npos)
      << logged;
  EXPECT_NE(logged.find("no longer runs"), std::string::npos) << logged;
  EXPECT_EQ(parse_holder_file(read_text_file(path()))->pid, ::getpid());
}

// This pid, but with another start time: the holder's pid was reused by another process.
TEST_F(LockFileTest, AReusedPidIsNotTheHolder) {
  LockHolder old = this_process("scouter train (before the reuse)");
  old.start_ticks -= 1;
  leave(old);
  std::string holder, logged;
  ASSERT_TRUE(attempt("scouter train", &holder, &logged)) << holder;
  EXPECT_NE(logged.find("is another process now"), std::string::npos) << logged;
}

// Another host's file: live while its mtime is within kStaleHeartbeats heartbeats, taken over
// after that. The same for a file that does not say who holds it (a holder between creating and
// writing it, or a damaged file).
TEST_F(LockFileTest, AnotherHostsFileIsTakenOverOnlyWithoutHeartbeat) {
  LockHolder other = this_process("scouter train (elsewhere)");
  other.host = "another-node";
  other.pid = 1;
  const double limit = LockFile::kStaleHeartbeats * LockFile::kHeartbeatSeconds;
  std::string holder, logged;
  for (double age : {0.0, limit - LockFile::kHeartbeatSeconds}) {
    leave(other, age);
    EXPECT_FALSE(attempt("scouter train", &holder)) << "age " << age;
    EXPECT_EQ(holder, other.describe());
  }
  leave(other, limit + LockFile::kHeartbeatSeconds);
  ASSERT_TRUE(attempt("scouter train", &holder, &logged)) << holder;
  EXPECT_NE(logged.find("from " + other.describe() + ": no heartbeat for"), std::string::npos)
      << logged;
}

TEST_F(LockFileTest, AFileThatSaysNothingIsJudgedByItsAge) {
  testing::write_bytes(path(), "");
  std::string holder;
  EXPECT_FALSE(attempt("scouter train", &holder));
  EXPECT_EQ(holder, "a process that has not said who it is yet");
  set_age(LockFile::kStaleHeartbeats * LockFile::kHeartbeatSeconds + LockFile::kHeartbeatSeconds);
  EXPECT_TRUE(attempt("scouter train", &holder));
}

// The holder refreshes its file's mtime every heartbeat (here 20 ms), so an old mtime becomes
// fresh again while it holds the file.
TEST_F(LockFileTest, TheHolderRefreshesItsFileEveryHeartbeat) {
  std::string holder;
  auto lock = LockFile::try_acquire(path(), "scouter train", &holder, 0.02);
  ASSERT_TRUE(lock);
  set_age(3600);
  ASSERT_GE(age_s(), 3600);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (age_s() > 60 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_LT(age_s(), 60) << "no heartbeat within 30 s";
}

// Two contenders find the same stale file at the same moment: exactly one takes it over, the
// other is refused naming the winner, on every round.
TEST_F(LockFileTest, OfTwoContendersForAStaleFileExactlyOneTakesIt) {
  LockHolder gone = this_process("scouter train (gone)");
  gone.host = "another-node";
  for (int round = 0; round < 50; ++round) {
    leave(gone, 3600);
    std::atomic<int> ready{0};
    std::unique_ptr<LockFile> won[2];
    std::string holder[2];
    std::thread contenders[2];
    ::testing::internal::CaptureStderr();
    for (int i = 0; i < 2; ++i)
      contenders[i] = std::thread([&, i] {
        ++ready;
        while (ready.load() < 2) {
        }
        won[i] = LockFile::try_acquire(path(), "contender " + std::to_string(i), &holder[i]);
      });
    for (auto& t : contenders) t.join();
    log::flush();
    ::testing::internal::GetCapturedStderr();
    ASSERT_NE(!won[0], !won[1]) << "round " << round << ": " << holder[0] << " / " << holder[1];
    const int loser = won[0] ? 1 : 0;
    EXPECT_NE(holder[loser].find("contender " + std::to_string(1 - loser)), std::string::npos)
        << "round " << round << ": " << holder[loser];
    won[1 - loser].reset();
    EXPECT_FALSE(file_exists(path()));
  }
}

}  // namespace
}  // namespace scouter
