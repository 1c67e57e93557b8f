// The run folder's lock where flock does not work (Lustre without `-o flock`, some NFS): a file
// created exclusively (written under a private name, then link()ed to its name, which fails if
// it exists) that names its holder, and whose modification time the holder refreshes every
// heartbeat from a small thread. A contender takes over a file whose holder is gone, with a
// warning naming it; it never takes over a live holder's. Gone means:
//   - same host (and boot): the pid no longer runs, or runs another program (its start time,
//     /proc/<pid>/stat field 22, differs: the pid was reused);
//   - another host, or a file that does not say who holds it: no heartbeat for kStaleHeartbeats
//     heartbeats, measured by the file server's clock (the mtime of a probe file the contender
//     creates in the same folder), not by the contender's own, so clock skew between nodes does
//     not count.
// Take-over is race-free between two contenders: the stale file is renamed to a name unique to
// the contender (only one rename of that file succeeds), and one that moved a newer holder's file
// instead (told by inode and content) puts it back with link(), which never replaces a file; a
// third contender creating the file in that instant would displace the newer holder, whose
// heartbeat then logs an error (docs/formats.md#integrity).
//
// File content (text): the line `pid <pid> on <host> since <UTC time>: <command>` (what a refusal
// shows, as flock's `.lock` says it), then `key=value` lines: host, boot_id
// (/proc/sys/kernel/random/boot_id), pid, start_ticks, since, command.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace scouter {

struct LockHolder {
  std::string host, boot_id, since, command;
  int64_t pid = 0;
  int64_t start_ticks = 0;  // the pid's start time in clock ticks since boot
  // "pid 123 on node7 since 2026-12-07T05:00:00Z: scouter train"
  std::string describe() const;
};

// This process as a holder running `command`.
LockHolder this_process(const std::string& command);
// The lock file's content for `h`, and back (nullopt: not a holder's file, e.g. still empty).
std::string holder_file_text(const LockHolder& h);
std::optional<LockHolder> parse_holder_file(const std::string& text);
// The start time of `pid` (clock ticks since boot, /proc/<pid>/stat), or -1 if it does not run
// (or cannot be read).
int64_t process_start_ticks(pid_t pid);

class LockFile {
 public:
  static constexpr double kHeartbeatSeconds = 10;
  static constexpr int kStaleHeartbeats = 3;

  // One attempt to take `path` for `command`: creates it, or takes over a stale holder's file and
  // creates it then. Returns nullptr when a live holder has it, with *holder describing that
  // holder. `heartbeat_s`: how often the holder refreshes the file (the tests shorten it); a file
  // is stale after kStaleHeartbeats of them. Throws UserError when the folder cannot be written.
  static std::unique_ptr<LockFile> try_acquire(const std::string& path, const std::string& command,
                                               std::string* holder,
                                               double heartbeat_s = kHeartbeatSeconds);
  // Stops the heartbeat and removes the file if it is still this holder's.
  ~LockFile();
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  struct Heartbeat;
  LockFile(int fd, std::string path, double heartbeat_s);
  bool still_ours() const;
  int fd_;
  std::string path_;
  dev_t dev_;
  ino_t ino_;
  std::unique_ptr<Heartbeat> heartbeat_;
};

}  // namespace scouter
