// One writer per run folder: an advisory lock (flock) on `<folder>/.lock`, taken before anything
// in the folder is written and held until the process ends. The kernel drops it when the holder
// exits or dies, so a lock is never stale. On NFS (v4, or v3 with lockd) Linux maps flock to
// POSIX locks, which work across nodes; Lustre needs the `flock` mount option (docs/formats.md).
#pragma once

#include <memory>
#include <string>

namespace scouter {

class FolderLock {
 public:
  // Takes the lock on `folder` (which must exist), waiting up to `wait_s` seconds for another
  // holder to finish (a requeued job overlapping the old one). Throws UserError naming the
  // folder and the holder (pid, host, since, command) when it stays held.
  static std::unique_ptr<FolderLock> acquire(const std::string& folder, double wait_s,
                                             const std::string& command);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  // Writes who holds it into the lock file (after the command was accepted: a refused command
  // changes nothing in the folder).
  void record_holder();
  const std::string& path() const { return path_; }

 private:
  FolderLock(int fd, std::string path, std::string command);
  int fd_;
  std::string path_, command_;
};

}  // namespace scouter
