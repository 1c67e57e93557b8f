#include "common/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/log.h"

namespace scouter {
namespace {

std::string holder_text(int fd) {
  std::string text(512, '\0');
  ssize_t n = ::pread(fd, text.data(), text.size(), 0);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text.empty() ? "a process that has not said who it is yet" : text;
}

}  // namespace

FolderLock::FolderLock(int fd, std::string path, std::string command)
    : fd_(fd), path_(std::move(path)), command_(std::move(command)) {}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays (removing it would race)
}

std::unique_ptr<FolderLock> FolderLock::acquire(const std::string& folder, double wait_s,
                                                const std::string& command) {
  const std::string path = folder + "/.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    throw UserError(str_format("cannot open the run folder's lock '{}': {}", path, os_reason(err)),
                    os_hint(err));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  bool said = false;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK && err != EINTR) {
      ::close(fd);
      throw UserError(str_format("cannot lock the run folder '{}': {}", folder, os_reason(err)),
                      "the file system must support flock (Lustre: mount with -o flock)");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string holder = holder_text(fd);
      ::close(fd);
      throw UserError(str_format("output_dir '{}' is in use by another scouter process ({}); two "
                                 "writers would mix their checkpoints and metrics",
                                 folder, holder),
                      "wait for it to finish or stop it (a process that died holds no lock), or "
                      "choose another output_dir");
    }
    if (!said) {
      log::info("waiting up to {:.0f} s for output_dir {}, in use by {}", wait_s, folder,
                holder_text(fd));
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return std::unique_ptr<FolderLock>(new FolderLock(fd, path, command));
}

void FolderLock::record_holder() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char since[32];
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string text = str_format("pid {} on {} since {}: {}\n", static_cast<int64_t>(::getpid()),
                                std::string(host), std::string(since), command_);
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, text.data(), text.size(), 0) < 0)
    log::warn("could not record the holder in {}: {}", path_, os_reason(errno));
}

}  // namespace scouter
