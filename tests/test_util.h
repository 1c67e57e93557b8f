// Helpers shared by every test executable: a temporary folder removed afterwards, the fixture
// folder, and running the `scouter` binary to check exit codes and messages.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/log.h"

namespace scouter::testing {

// Everything `f` writes to stderr, the logger's sink included (flushed before the capture ends).
template <typename F>
std::string stderr_of(F&& f) {
  ::testing::internal::CaptureStderr();
  f();
  log::flush();
  return ::testing::internal::GetCapturedStderr();
}

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// tests/fixtures (from the SCOUTER_FIXTURES environment variable CTest sets).
std::string fixtures_dir();
// The built `scouter` executable (SCOUTER_BIN).
std::string scouter_bin();
// The project's source folder.
std::string source_dir();

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
CommandResult run_command(const std::string& command);
// `scouter <args>` with the built binary.
CommandResult run_scouter(const std::string& args);

// A mistake the user can fix: exit status 2 and `text` in the output. `result` is evaluated
// once (it is often the command itself).
#define EXPECT_USAGE_ERROR(result, text)                                                   \
  do {                                                                                     \
    const ::scouter::testing::CommandResult& usage_result_ = (result);                     \
    EXPECT_EQ(usage_result_.exit_code, 2) << usage_result_.output;                         \
    EXPECT_NE(usage_result_.output.find(text), std::string::npos) << usage_result_.output; \
  } while (0)

void write_bytes(const std::string& path, const std::string& bytes);

// The line of `text` that contains `needle` (empty if none).
std::string line_with(const std::string& text, const std::string& needle);

// The message of the UserError that `fn` throws; a test failure (and "") when it throws none.
inline std::string user_error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no UserError";
  return {};
}

// A command running in the background (its own process group), output to a log file.
class BackgroundCommand {
 public:
  BackgroundCommand(const std::string& command, const std::string& log_path);
  ~BackgroundCommand();  // kills the group if still running
  // Exit status, or -1 if still running after timeout_s.
  int wait(double timeout_s);
  double seconds_running() const;
  std::string log() const;
  // Sends `sig` to the command's process (the command itself: it runs under exec).
  void signal(int sig) const;

 private:
  int pid_ = -1;
  int status_ = -1;
  std::string log_path_;
  double start_ = 0;
};

// PIDs of processes whose command line contains `needle` and whose environment has
// OMPI_COMM_WORLD_RANK=rank or PMI_RANK=rank (a rank started by Open MPI's or MPICH's launcher).
std::vector<int> rank_pids(const std::string& needle, int rank);

// Waits until the file exists; false after timeout_s.
bool wait_for_file(const std::string& path, double timeout_s);

// The launcher CMake found with this MPI, with the options the tests need (Open MPI: root,
// oversubscription; MPICH's Hydra needs none).
std::string mpirun();

}  // namespace scouter::testing
