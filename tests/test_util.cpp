#include "test_util.h"

#include "common/files.h"
#include "common/mpi_env.h"

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace scouter::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "scouter-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

// remove_tree, not std::filesystem::remove_all: the latter crashes in a process linked with
// PyTorch's pip LibTorch (common/files.h).
TempDir::~TempDir() { remove_tree(path_); }

static std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}

std::string fixtures_dir() { return env_or("SCOUTER_FIXTURES", SCOUTER_FIXTURES_DIR); }
std::string scouter_bin() { return env_or("SCOUTER_BIN", SCOUTER_BIN_PATH); }
std::string source_dir() { return SCOUTER_SOURCE_PATH; }
CommandResult run_scouter(const std::string& args) {
  return run_command(scouter_bin() + " " + args);
}

std::string mpirun() {
  // Open MPI refuses root and more ranks than cores unless told; MPICH's Hydra allows both.
  if (std::string(mpi_flavour()) == "Open MPI")
    return std::string(SCOUTER_MPIEXEC) + " --allow-run-as-root --oversubscribe";
  return SCOUTER_MPIEXEC;
}

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

BackgroundCommand::BackgroundCommand(const std::string& command, const std::string& log_path)
    : log_path_(log_path), start_(now_s()) {
  std::string sh = "exec " + command + " > '" + log_path + "' 2>&1";
  const char* argv[] = {"/bin/sh", "-c", sh.c_str(), nullptr};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  if (posix_spawn(&pid_, "/bin/sh", nullptr, &attr, const_cast<char**>(argv), environ) != 0)
    throw std::runtime_error("posix_spawn failed: " + command);
  posix_spawnattr_destroy(&attr);
}

BackgroundCommand::~BackgroundCommand() {
  if (pid_ > 0 && status_ < 0) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

int BackgroundCommand::wait(double timeout_s) {
  if (status_ >= 0) return status_;
  double deadline = now_s() + timeout_s;
  while (true) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (now_s() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

double BackgroundCommand::seconds_running() const { return now_s() - start_; }

void BackgroundCommand::signal(int sig) const {
  if (pid_ > 0 && status_ < 0) kill(pid_, sig);
}

std::string BackgroundCommand::log() const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<int> rank_pids(const std::string& needle, int rank) {
  std::vector<int> pids;
  // Open MPI's and MPICH's (Hydra's) names for it.
  const std::string wants[] = {"OMPI_COMM_WORLD_RANK=" + std::to_string(rank),
                               "PMI_RANK=" + std::to_string(rank)};
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto slurp = [&](const char* what) {
      std::ifstream f(e.path() / what, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      return ss.str();
    };
    std::string cmd = slurp("cmdline"), env = slurp("environ");
    if (cmd.find(needle) == std::string::npos || cmd.rfind("mpirun", 0) == 0) continue;
    for (auto& c : env)
      if (c == '\0') c = '\n';
    for (const std::string& want : wants)
      if (("\n" + env).find("\n" + want + "\n") != std::string::npos) {
        pids.push_back(std::stoi(name));
        break;
      }
  }
  return pids;
}

bool wait_for_file(const std::string& path, double timeout_s) {
  double deadline = now_s() + timeout_s;
  while (!std::filesystem::exists(path)) {
    if (now_s() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

std::string line_with(const std::string& text, const std::string& needle) {
  auto p = text.find(needle);
  if (p == std::string::npos) return {};
  auto b = text.rfind('\n', p);
  auto e = text.find('\n', p);
  return text.substr(b == std::string::npos ? 0 : b + 1, e == std::string::npos ? e : e - b - 1);
}

}  // namespace scouter::testing
