// Helpers shared by every test executable: a temporary folder removed afterwards, the fixture
// folder, and running the `scouter` binary to check exit codes and messages.
#pragma once

#include <string>

namespace scouter::testing {

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

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
CommandResult run_command(const std::string& command);

void write_bytes(const std::string& path, const std::string& bytes);

}  // namespace scouter::testing
