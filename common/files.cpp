#include "common/files.h"

#include <fmt/format.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/error.h"

namespace fs = std::filesystem;

namespace scouter {

AtomicOutput::AtomicOutput(std::string path) : path_(std::move(path)) {
  static std::atomic<int> counter{0};
  temp_ = fmt::format("{}.tmp.{}.{}", path_, ::getpid(), counter++);
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicOutput::commit() {
  std::error_code ec;
  fs::rename(temp_, path_, ec);
  if (ec) {
    throw UserError(fmt::format("cannot rename '{}' to '{}': {}", temp_, path_, ec.message()),
                    "check that the output folder is writable and on one file system");
  }
  committed_ = true;
}

void ensure_dir(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw UserError(fmt::format("cannot create folder '{}': {}", dir,
                                ec ? ec.message() : "a file of that name exists"),
                    "choose a writable location");
  }
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot open '{}' for reading", path), "check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_file_atomic(const std::string& path, const std::string& text) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) throw UserError(fmt::format("cannot write '{}'", out.temp_path()), "check disk space");
  }
  out.commit();
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
