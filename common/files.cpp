#include "common/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>

#include "common/error.h"

namespace fs = std::filesystem;

namespace scouter {

namespace {

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "host";
  return buf;
}

[[noreturn]] void throw_os(const std::string& what, const std::string& path, int err) {
  throw UserError(fmt::format("cannot {} '{}': {}", what, path, os_reason(err)), os_hint(err));
}

// A file descriptor that closes itself; close() reports the result (a failed close can be a
// failed write on network file systems).
class Fd {
 public:
  Fd(const std::string& path, int flags, mode_t mode = 0644) {
    do fd_ = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    while (fd_ < 0 && errno == EINTR);
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  void write_all(const void* data, size_t size, const std::string& shown) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t n = ::write(fd_, p, std::min<size_t>(size, size_t{1} << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_os("write", shown, errno);
      if (n == 0) throw_os("write", shown, EIO);
      p += n;
      size -= static_cast<size_t>(n);
    }
  }
  void sync(const std::string& shown) {
    if (::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) throw_os("flush", shown, errno);
  }
  void close(const std::string& shown) {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && errno != EINTR) throw_os("close", shown, errno);
  }

 private:
  int fd_ = -1;
};

std::string parent_of(const std::string& path) {
  std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

std::string os_reason(int err) { return std::strerror(err); }

std::string os_hint(int err) {
  switch (err) {
    case ENOSPC: return "free space on that file system (df -h) or write somewhere else";
    case EDQUOT: return "the disk quota is used up: free space or write somewhere else";
    case EROFS: return "the file system is read-only: choose a writable location";
    case EACCES:
    case EPERM: return "the folder is not writable by this user: check its permissions";
    case ENOENT: return "check the path";
    default: return "check the file system";
  }
}

AtomicOutput::AtomicOutput(std::string path) : path_(std::move(path)) {
  static std::atomic<int> counter{0};
  temp_ = fmt::format("{}.tmp.{}.{}.{}", path_, host_name(), ::getpid(), counter++);
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicOutput::commit() {
  {
    Fd f(temp_, O_RDONLY);
    if (!f.ok()) throw_os("reopen", temp_, errno);
    f.sync(path_);
    f.close(path_);
  }
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    throw UserError(fmt::format("cannot rename '{}' to '{}': {}", temp_, path_, os_reason(err)),
                    err == EXDEV ? "the temporary and the target must be on one file system"
                                 : os_hint(err));
  }
  committed_ = true;
  fsync_path(parent_of(path_));
}

void fsync_path(const std::string& path) {
  Fd f(path, O_RDONLY);
  if (!f.ok()) throw_os("open", path, errno);
  f.sync(path);
}

void ensure_dir(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw UserError(fmt::format("cannot create folder '{}': {}", dir,
                                ec ? ec.message() : "a file of that name exists"),
                    ec ? os_hint(ec.value()) : "choose another location");
  }
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string read_text_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw UserError(fmt::format("'{}' is a folder, not a file", path), "give the path of a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot open '{}' for reading: {}", path, os_reason(errno)),
                           os_hint(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Fault injection for the tests (tests/launcher/faults_test.cpp): SCOUTER_FAULT_KILL_IN_WRITE=s
// kills this process with SIGKILL halfway through writing the first file whose path contains s,
// SCOUTER_FAULT_KILL_AFTER_WRITE=s right after that file got its final name. Unset: nothing.
namespace {
void maybe_kill(const char* variable, const std::string& path) {
  const char* s = std::getenv(variable);
  if (s != nullptr && *s != '\0' && path.find(s) != std::string::npos) ::kill(::getpid(), SIGKILL);
}
}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  AtomicOutput out(path);
  {
    Fd f(out.temp_path(), O_WRONLY | O_CREAT | O_TRUNC);
    if (!f.ok()) throw_os("create", path, errno);
    const size_t half = size / 2;
    f.write_all(data, half, path);
    maybe_kill("SCOUTER_FAULT_KILL_IN_WRITE", path);
    f.write_all(static_cast<const char*>(data) + half, size - half, path);
    f.close(path);
  }
  out.commit();
  maybe_kill("SCOUTER_FAULT_KILL_AFTER_WRITE", path);
}

void write_text_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

void append_file_durable(const std::string& path, const std::string& text) {
  Fd f(path, O_WRONLY | O_CREAT | O_APPEND);
  if (!f.ok()) throw_os("open", path, errno);
  f.write_all(text.data(), text.size(), path);
  f.sync(path);
  f.close(path);
}

int remove_stale_temporaries(const std::string& dir) {
  static const std::regex kTemp(R"(.+\.tmp\.(.+)\.(\d+)\.(\d+))");
  const std::string host = host_name();
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, kTemp) || m[1].str() != host) continue;
    auto pid = static_cast<pid_t>(std::stoll(m[2].str()));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // still running
    if (::unlink(e.path().c_str()) == 0) ++removed;
  }
  return removed;
}

namespace {
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

MdCtx new_sha256() {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw Error("OpenSSL: cannot initialise SHA-256");
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1) throw Error("OpenSSL: SHA-256 failed");
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}
}  // namespace

std::string sha256_bytes(const void* data, size_t size) {
  auto ctx = new_sha256();
  EVP_DigestUpdate(ctx.get(), data, size);
  return finish_hex(ctx.get());
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot open '{}' for reading", path), "check the path");
  auto ctx = new_sha256();
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  return finish_hex(ctx.get());
}

namespace {
int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  // FTW_DEPTH visits a folder after its contents; FTW_PHYS reports links as links (FTW_SL).
  return (type == FTW_DP ? ::rmdir(path) : ::unlink(path)) == 0 ? 0 : errno;
}
}  // namespace

bool remove_tree(const std::string& path, std::string* error) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  int rc = ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (rc == 0) return true;
  if (error) *error = std::strerror(rc > 0 ? rc : errno);
  return false;
}

}  // namespace scouter
