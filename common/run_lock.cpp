#include "common/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <utility>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/lock_file.h"
#include "common/log.h"

namespace scouter {
namespace {

// Fault injection for the tests (tests/common/run_lock_test.cpp, tests/launcher/faults_test.cpp):
// SCOUTER_FAULT_FLOCK_ERRNO=ENOLCK (or ENOSYS, EOPNOTSUPP) makes flock fail with that error, as
// on a file system without flock. Unset: nothing.
int flock_or_fault(int fd) {
  const char* fault = std::getenv("SCOUTER_FAULT_FLOCK_ERRNO");
  if (fault != nullptr && *fault != '\0') {
    for (const auto& [name, err] : {std::pair<const char*, int>{"ENOLCK", ENOLCK},
                                    {"ENOSYS", ENOSYS},
                                    {"EOPNOTSUPP", EOPNOTSUPP}}) {
      if (std::string(fault) != name) continue;
      errno = err;
      return -1;
    }
  }
  return ::flock(fd, LOCK_EX | LOCK_NB);
}

// What a file system without flock answers (Lustre without -o flock: ENOSYS; NFS without lockd:
// ENOLCK).
bool flock_unsupported(int err) { return err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP; }

std::string holder_text(int fd) {
  std::string text(512, '\0');
  ssize_t n = ::pread(fd, text.data(), text.size(), 0);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text.empty() ? "a process that has not said who it is yet" : text;
}

}  // namespace

FolderLock::~FolderLock() {
  file_.reset();               // removes the lock file if it is still ours
  if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays (removing it would race)
}

std::unique_ptr<FolderLock> FolderLock::acquire(const std::string& folder, double wait_s,
                                                const std::string& command,
                                                const std::string& mode) {
  SCOUTER_CHECK(mode == "auto" || mode == "flock" || mode == "file" || mode == "none",
                "lock mode " + mode);
  std::unique_ptr<FolderLock> lock(new FolderLock);
  lock->command_ = command;
  lock->mechanism_ = mode == "auto" ? "flock" : mode;
  if (mode == "none") {
    log::warn(
        "lock = \"none\": output_dir {} is not locked; two scouter processes writing it "
        "would mix their checkpoints and metrics",
        folder);
    return lock;
  }
  lock->path_ = folder + (lock->mechanism_ == "flock" ? "/.lock" : "/.lock.held");
  if (lock->mechanism_ == "flock") {
    lock->fd_ = ::open(lock->path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock->fd_ < 0) {
      int err = errno;
      throw UserError(
          str_format("cannot open the run folder's lock '{}': {}", lock->path_, os_reason(err)),
          os_hint(err));
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  bool said = false;
  std::string holder;
  while (!lock->take(folder, mode, &holder)) {
    if (std::chrono::steady_clock::now() >= deadline)
      throw UserError(str_format("output_dir '{}' is in use by another scouter process ({}); two "
                                 "writers would mix their checkpoints and metrics",
                                 folder, holder),
                      lock->mechanism_ == "flock"
                          ? "wait for it to finish or stop it (a process that died holds no "
                            "lock), or choose another output_dir"
                          : str_format("wait for it to finish or stop it (the lock file of "
                                       "a process that died is taken over: at once on its "
                                       "host, from another host after {:.0f} s without its "
                                       "heartbeat), or choose another output_dir",
                                       LockFile::kStaleHeartbeats * LockFile::kHeartbeatSeconds));
    if (!said) {
      log::info("waiting up to {:.0f} s for output_dir {}, in use by {}", wait_s, folder, holder);
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return lock;
}

bool FolderLock::take(const std::string& folder, const std::string& mode, std::string* holder) {
  if (mechanism_ == "flock") {
    if (flock_or_fault(fd_) == 0) return true;
    int err = errno;
    if (err == EWOULDBLOCK || err == EINTR) {
      *holder = holder_text(fd_);
      return false;
    }
    if (mode != "auto" || !flock_unsupported(err))
      throw UserError(str_format("cannot lock the run folder '{}' (lock = \"{}\"): flock: {}",
                                 folder, mode, os_reason(err)),
                      flock_unsupported(err)
                          ? "this file system does not support flock (Lustre: mount with -o "
                            "flock); lock = \"auto\" or \"file\" uses a lock file instead"
                          : os_hint(err));
    ::close(fd_);
    fd_ = -1;
    mechanism_ = "file";
    path_ = folder + "/.lock.held";
    log::warn(
        "this file system does not support flock ({}: {}); output_dir is locked by the lock "
        "file {} instead (lock = \"auto\"; docs/formats.md#integrity)",
        folder, os_reason(err), path_);
  }
  file_ = LockFile::try_acquire(path_, command_, holder);
  return file_ != nullptr;
}

void FolderLock::record_holder() {
  if (mechanism_ != "flock") return;
  std::string text = this_process(command_).describe() + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, text.data(), text.size(), 0) < 0)
    log::warn("could not record the holder in {}: {}", path_, os_reason(errno));
}

}  // namespace scouter
