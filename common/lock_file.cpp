#include "common/lock_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/log.h"
#include "common/text.h"

namespace scouter {
namespace {

std::string first_line_of_file(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string host_name() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return host;
}

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char since[32];
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return since;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

std::string folder_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// A name beside `path` that only this process uses, in the pattern remove_stale_temporaries()
// clears when this process died before removing it.
std::string private_name(const std::string& path, const char* what) {
  static std::atomic<int> counter{0};
  return str_format("{}.{}.tmp.{}.{}.{}", path, what, host_name(), static_cast<int64_t>(::getpid()),
                    counter++);
}

// The file at `path` (its stat and content, from one open file), false if it is not there.
bool read_lock_file(const std::string& path, struct stat* st, std::string* text) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fstat(fd, st) == 0;
  char buf[4096];
  for (ssize_t n; ok && (n = ::read(fd, buf, sizeof buf)) > 0;)
    text->append(buf, static_cast<size_t>(n));
  ::close(fd);
  return ok;
}

double seconds_between(const timespec& from, const timespec& to) {
  return static_cast<double>(to.tv_sec - from.tv_sec) +
         1e-9 * static_cast<double>(to.tv_nsec - from.tv_nsec);
}

// "Now" by the clock that stamps files in `folder`: the mtime of a file created there (on NFS
// the server sets it). The local clock if the probe cannot be made.
timespec file_system_now(const std::string& folder) {
  const std::string probe = private_name(folder + "/.lock", "probe");
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  struct stat st;
  bool ok = fd >= 0 && ::fstat(fd, &st) == 0;
  if (fd >= 0) {
    ::close(fd);
    ::unlink(probe.c_str());
  }
  if (ok) return st.st_mtim;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return now;
}

struct Verdict {
  bool stale = false;
  std::string why;
};

// Whether the holder of a lock file (stat `st`, content parsed into `h`) is gone.
Verdict judge(const std::optional<LockHolder>& h, const struct stat& st, const std::string& folder,
              double heartbeat_s) {
  static const LockHolder me = this_process("");
  if (h && h->host == me.host && h->boot_id == me.boot_id) {
    const int64_t ticks = process_start_ticks(static_cast<pid_t>(h->pid));
    if (ticks < 0) {
      // Not readable in /proc (gone, or hidden by hidepid): kill(pid, 0) tells which.
      if (::kill(static_cast<pid_t>(h->pid), 0) != 0 && errno == ESRCH)
        return {true, str_format("pid {} no longer runs on {}", h->pid, h->host)};
      return {};
    }
    if (ticks != h->start_ticks)
      return {true, str_format("pid {} on {} is another process now (it started at another time)",
                               h->pid, h->host)};
    return {};
  }
  const double age = seconds_between(st.st_mtim, file_system_now(folder));
  const double limit = LockFile::kStaleHeartbeats * heartbeat_s;
  if (age > limit)
    return {true,
            str_format("no heartbeat for {:.0f} s (a holder refreshes it every {:.0f} s; stale "
                       "after {:.0f} s, by the file system's clock)",
                       age, heartbeat_s, limit)};
  return {};
}

[[noreturn]] void throw_lock_error(const char* what, const std::string& path, int err) {
  throw UserError(str_format("cannot {} the lock file '{}': {}", what, path, os_reason(err)),
                  os_hint(err));
}

// Writes `text` into the new file `name` (O_EXCL) and returns its descriptor; -1 with errno.
int write_new_file(const std::string& name, const std::string& text) {
  int fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()) ||
      ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(name.c_str());
    errno = err;
    return -1;
  }
  return fd;
}

// Creates `path` holding `text`, exclusively, and returns its open descriptor; -1 when `path`
// exists. The text goes into a private file first, which link() then names `path`: link fails
// when `path` exists, a contender never finds the file empty, and on NFS a lost reply to a link
// that succeeded shows in the link count (open(2) recommends this over O_EXCL there).
int create_exclusive(const std::string& path, const std::string& text) {
  const std::string mine = private_name(path, "new");
  int fd = write_new_file(mine, text);
  if (fd < 0) throw_lock_error("write", path, errno);
  int rc = ::link(mine.c_str(), path.c_str());
  const int err = errno;
  struct stat st;
  if (rc != 0 && err != EEXIST && ::fstat(fd, &st) == 0 && st.st_nlink == 2) rc = 0;
  ::unlink(mine.c_str());
  if (rc == 0) return fd;
  ::close(fd);
  if (err == EEXIST) return -1;
  if (err != EPERM && err != EOPNOTSUPP && err != ENOSYS) throw_lock_error("create", path, err);
  // No hard links on this file system: O_EXCL, with a moment in which the file is empty.
  fd = write_new_file(path, text);
  if (fd < 0 && errno != EEXIST) throw_lock_error("create", path, errno);
  return fd;
}

// Renames the stale file `path` (judged from its stat and text) out of the way. False when it
// was no longer there (another contender moved it first) or was another file than the one judged
// (a newer holder's, created meanwhile: put back with link(), which never replaces a file). The
// inode alone does not tell: a file system may give a new file the inode of a removed one.
bool move_aside(const std::string& path, const struct stat& judged,
                const std::string& judged_text) {
  const std::string aside = private_name(path, "stale");
  if (::rename(path.c_str(), aside.c_str()) != 0) {
    int err = errno;
    if (err == ENOENT) return false;
    throw_lock_error("take over", path, err);
  }
  struct stat moved;
  std::string moved_text;
  const bool same = read_lock_file(aside, &moved, &moved_text) && moved.st_ino == judged.st_ino &&
                    moved.st_dev == judged.st_dev && moved_text == judged_text;
  if (!same && ::link(aside.c_str(), path.c_str()) != 0)
    log::warn("moved a newer lock file {} aside and could not put it back: {}", path,
              os_reason(errno));
  ::unlink(aside.c_str());
  return same;
}

}  // namespace

std::string LockHolder::describe() const {
  return str_format("pid {} on {} since {}: {}", pid, host, since, command);
}

LockHolder this_process(const std::string& command) {
  LockHolder h;
  h.host = host_name();
  h.boot_id = first_line_of_file("/proc/sys/kernel/random/boot_id");
  h.pid = ::getpid();
  h.start_ticks = process_start_ticks(::getpid());
  h.since = utc_now();
  h.command = one_line(command);
  return h;
}

std::string holder_file_text(const LockHolder& h) {
  return str_format("{}\nhost={}\nboot_id={}\npid={}\nstart_ticks={}\nsince={}\ncommand={}\n",
                    h.describe(), h.host, h.boot_id, h.pid, h.start_ticks, h.since, h.command);
}

std::optional<LockHolder> parse_holder_file(const std::string& text) {
  LockHolder h;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // the description
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "host") h.host = value;
    if (key == "boot_id") h.boot_id = value;
    if (key == "since") h.since = value;
    if (key == "command") h.command = value;
    if (key == "pid") h.pid = parse_int(value).value_or(0);
    if (key == "start_ticks") h.start_ticks = parse_int(value).value_or(0);
  }
  if (h.host.empty() || h.pid <= 0) return std::nullopt;
  return h;
}

int64_t process_start_ticks(pid_t pid) {
  std::ifstream in(str_format("/proc/{}/stat", static_cast<int64_t>(pid)));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields count from the
  // last ')'; the start time is field 22, the 20th after it.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 0; i < 20 && fields >> field; ++i) {
  }
  auto ticks = parse_int(field);
  return ticks ? *ticks : -1;
}

struct LockFile::Heartbeat {
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  std::thread thread;
};

std::unique_ptr<LockFile> LockFile::try_acquire(const std::string& path, const std::string& command,
                                                std::string* holder, double heartbeat_s) {
  const std::string folder = folder_of(path);
  for (int attempt = 0; attempt < 4; ++attempt) {
    int fd = create_exclusive(path, holder_file_text(this_process(command)));
    if (fd >= 0) return std::unique_ptr<LockFile>(new LockFile(fd, path, heartbeat_s));
    // Someone's file: read who, judge, and take it over if its holder is gone.
    struct stat st;
    std::string text;
    if (!read_lock_file(path, &st, &text)) continue;  // removed meanwhile: try again
    auto h = parse_holder_file(text);
    *holder = h ? h->describe() : "a process that has not said who it is yet";
    Verdict v = judge(h, st, folder, heartbeat_s);
    if (!v.stale) return nullptr;
    if (move_aside(path, st, text))
      log::warn("took over the lock file {} from {}: {}", path, *holder, v.why);
  }
  return nullptr;  // contenders kept taking it: held, for now
}

LockFile::LockFile(int fd, std::string path, double heartbeat_s)
    : fd_(fd), path_(std::move(path)), heartbeat_(new Heartbeat) {
  struct stat st;
  SCOUTER_CHECK(::fstat(fd_, &st) == 0, "fstat of a lock file just created");
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  heartbeat_->thread = std::thread([this, heartbeat_s] {
    Heartbeat& hb = *heartbeat_;
    bool warned = false, lost = false;
    std::unique_lock<std::mutex> lock(hb.mutex);
    while (!hb.wake.wait_for(lock, std::chrono::duration<double>(heartbeat_s),
                             [&] { return hb.stop; })) {
      if (::futimens(fd_, nullptr) != 0 && !warned) {
        log::warn("cannot refresh the lock file {}: {}", path_, os_reason(errno));
        warned = true;
      }
      struct stat now;
      if (!lost && ::stat(path_.c_str(), &now) == 0 && (now.st_ino != ino_ || now.st_dev != dev_)) {
        log::error(
            "the lock file {} is another process's now ({}): it judged this one stale "
            "(was this process stopped for {:.0f} s or more?); two writers may mix the "
            "run's files",
            path_, first_line_of_file(path_), kStaleHeartbeats * heartbeat_s);
        lost = true;
      }
    }
  });
}

bool LockFile::still_ours() const {
  struct stat st;
  return ::stat(path_.c_str(), &st) == 0 && st.st_ino == ino_ && st.st_dev == dev_;
}

LockFile::~LockFile() {
  {
    std::lock_guard<std::mutex> lock(heartbeat_->mutex);
    heartbeat_->stop = true;
  }
  heartbeat_->wake.notify_all();
  heartbeat_->thread.join();
  if (still_ours()) ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace scouter
