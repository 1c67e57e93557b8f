// The run folder's lock in each `lock` mode (common/run_lock.h), with the fault hook
// SCOUTER_FAULT_FLOCK_ERRNO standing in for a file system without flock: "auto" falls back to
// the lock file and says so, "flock" refuses with the OS's reason, "file" skips flock, "none"
// locks nothing and warns. `scouter train` itself under the hook: tests/launcher/faults_test.cpp.
#include "common/run_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "common/error.h"
#include "common/files.h"
#include "common/lock_file.h"
#include "common/log.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

class RunLockTest : public ::testing::Test {
 protected:
  void SetUp() override { init_logging(0, "info"); }
  // The lock and what taking it logged.
  std::unique_ptr<FolderLock> acquire(const std::string& mode, std::string* logged,
                                      const std::string& command = "scouter train") const {
    ::testing::internal::CaptureStderr();
    std::unique_ptr<FolderLock> lock;
    try {
      lock = FolderLock::acquire(dir_.path(), 0, command, mode);
    } catch (...) {
      ::testing::internal::GetCapturedStderr();
      throw;
    }
    log::flush();
    *logged = ::testing::internal::GetCapturedStderr();
    return lock;
  }
  TempDir dir_;
};

TEST_F(RunLockTest, AutoUsesFlockWhereItWorks) {
  std::string logged;
  auto lock = acquire("auto", &logged);
  EXPECT_EQ(lock->mechanism(), "flock");
  EXPECT_EQ(lock->path(), dir_.file(".lock"));
  EXPECT_FALSE(file_exists(dir_.file(".lock.held")));
  EXPECT_EQ(logged.find("[warning]"), std::string::npos) << logged;
  lock->record_holder();
  EXPECT_EQ(read_text_file(lock->path()), this_process("scouter train").describe() + "\n");
}

TEST_F(RunLockTest, AutoFallsBackToTheLockFileWhereFlockIsRefused) {
  for (const char* err : {"ENOLCK", "ENOSYS", "EOPNOTSUPP"}) {
    SCOPED_TRACE(err);
    ScopedEnv fault("SCOUTER_FAULT_FLOCK_ERRNO", err);
    std::string logged;
    auto lock = acquire("auto", &logged, "scouter train (first)");
    EXPECT_EQ(lock->mechanism(), "file");
    EXPECT_EQ(lock->path(), dir_.file(".lock.held"));
    EXPECT_NE(logged.find("this file system does not support flock (" + dir_.path() + ": "),
              std::string::npos)
        << logged;
    EXPECT_NE(logged.find("locked by the lock file " + dir_.file(".lock.held") + " instead"),
              std::string::npos)
        << logged;
    EXPECT_EQ(parse_holder_file(read_text_file(lock->path()))->command, "scouter train (first)");

    // A second writer, falling back alike, is refused naming the first.
    std::string msg =
        testing::user_error_message([&] { acquire("auto", &logged, "scouter train (second)"); });
    EXPECT_NE(
        msg.find("output_dir '" + dir_.path() + "' is in use by another scouter process (pid " +
                 std::to_string(::getpid()) + " on "),
        std::string::npos)
        << msg;
    EXPECT_NE(msg.find(": scouter train (first))"), std::string::npos) << msg;
    lock.reset();
    EXPECT_FALSE(file_exists(dir_.file(".lock.held")));
  }
}

TEST_F(RunLockTest, FlockModeRefusesWithTheReason) {
  ScopedEnv fault("SCOUTER_FAULT_FLOCK_ERRNO", "ENOLCK");
  std::string logged;
  try {
    acquire("flock", &logged);
    ADD_FAILURE() << "no UserError";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot lock the run folder '" + dir_.path() +
                                         "' (lock = \"flock\"): flock: No locks available");
    EXPECT_NE(e.hint().find("lock = \"auto\" or \"file\" uses a lock file"), std::string::npos)
        << e.hint();
  }
  EXPECT_FALSE(file_exists(dir_.file(".lock.held")));
}

TEST_F(RunLockTest, FileModeNeverTriesFlock) {
  std::string logged;
  auto lock = acquire("file", &logged);
  EXPECT_EQ(lock->mechanism(), "file");
  EXPECT_TRUE(file_exists(dir_.file(".lock.held")));
  EXPECT_FALSE(file_exists(dir_.file(".lock")));
  EXPECT_EQ(logged.find("[warning]"), std::string::npos) << logged;
  // A writer that uses flock does not see it: all writers of a folder use the same mode.
  auto other = acquire("flock", &logged);
  EXPECT_EQ(other->mechanism(), "flock");
}

TEST_F(RunLockTest, NoneLocksNothingAndWarns) {
  std::string logged;
  auto lock = acquire("none", &logged);
  EXPECT_EQ(lock->mechanism(), "none");
  EXPECT_EQ(lock->path(), "");
  EXPECT_NE(logged.find("[warning] lock = \"none\": output_dir " + dir_.path() +
                        " is not locked; two scouter processes writing it would mix their "
                        "checkpoints and metrics"),
            std::string::npos)
      << logged;
  lock->record_holder();
  EXPECT_FALSE(file_exists(dir_.file(".lock")));
  EXPECT_FALSE(file_exists(dir_.file(".lock.held")));
  auto second = acquire("none", &logged);  // nothing stops a second one
}

}  // namespace
}  // namespace scouter
