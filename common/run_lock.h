// One writer per run folder, taken before anything in the folder is written and held until the
// process ends. How (the `lock` key, docs/formats.md#integrity):
//   "flock": an advisory lock (flock) on `<folder>/.lock`. The kernel drops it when the holder
//            exits or dies, so it is never stale. On NFS (v4, or v3 with lockd) Linux maps flock
//            to POSIX locks, which work across nodes; Lustre needs the `flock` mount option.
//   "file":  the lock file `<folder>/.lock.held` (common/lock_file.h: holder's host, pid and
//            start time, a heartbeat, stale holders taken over), for file systems without flock.
//   "auto":  flock; where the file system refuses it (ENOLCK, ENOSYS, EOPNOTSUPP) a warning and
//            the lock file.
//   "none":  no lock, with a warning: two writers would mix their checkpoints.
#pragma once

#include <memory>
#include <string>

namespace scouter {

class LockFile;

class FolderLock {
 public:
  // Takes the lock on `folder` (which must exist) as `mode` says, waiting up to `wait_s` seconds
  // for another holder to finish (a requeued job overlapping the old one). Throws UserError
  // naming the folder and the holder (pid, host, since, command) when it stays held, or naming
  // the OS's reason when the lock cannot be taken at all.
  static std::unique_ptr<FolderLock> acquire(const std::string& folder, double wait_s,
                                             const std::string& command,
                                             const std::string& mode = "auto");
  // Releases it (the lock file is removed if it is still this process's).
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  // Writes who holds it into `.lock` (after the command was accepted: a refused command changes
  // nothing in the folder). The lock file says it from the start: nothing to do there.
  void record_holder();
  // "flock", "file" or "none": what holds the folder.
  const std::string& mechanism() const { return mechanism_; }
  // The file that names the holder ("" for none).
  const std::string& path() const { return path_; }

 private:
  FolderLock() = default;
  // One attempt: true when taken; false with *holder naming the live holder.
  bool take(const std::string& folder, const std::string& mode, std::string* holder);
  int fd_ = -1;
  std::unique_ptr<LockFile> file_;
  std::string mechanism_, path_, command_;
};

}  // namespace scouter
