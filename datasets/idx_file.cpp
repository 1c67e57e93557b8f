#include "datasets/idx_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <limits>

#include "common/error.h"

namespace scouter {
namespace {

constexpr uint8_t kTypeUbyte = 0x08;
constexpr int64_t kMaxElements = int64_t{1} << 40;  // far beyond any IDX file, guards overflow

const char* type_name(uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "short";
    case 0x0C:
      return "int";
    case 0x0D:
      return "float";
    case 0x0E:
      return "double";
    default:
      return "unknown";
  }
}

const char* kHint =
    "IDX files come from the MNIST / Fashion-MNIST distributions (e.g. Debian's "
    "dataset-fashion-mnist); re-download or re-copy the file";

struct GzFile {
  explicit GzFile(const std::string& path) : f(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (f) gzclose(f);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  gzFile f;
};

// Reads up to n bytes; returns how many were read. A damaged gzip stream is an error, not EOF.
size_t read_some(GzFile& in, const std::string& path, void* out, size_t n) {
  size_t done = 0;
  auto* p = static_cast<unsigned char*>(out);
  while (done < n) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    int got = gzread(in.f, p + done, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(in.f, &errnum);
      throw UserError(fmt::format("IDX file '{}' is not a valid gzip stream: {}", path,
                                  msg ? msg : "read error"),
                      kHint);
    }
    if (got == 0) {
      // zlib reports a truncated gzip member only through gzerror after EOF.
      int errnum = 0;
      const char* msg = gzerror(in.f, &errnum);
      if (errnum != Z_OK && errnum != Z_BUF_ERROR)
        throw UserError(fmt::format("IDX file '{}' is not a valid gzip stream: {}", path, msg),
                        kHint);
      if (errnum == Z_BUF_ERROR)
        throw UserError(fmt::format("IDX file '{}' is a truncated gzip stream: {}", path, msg),
                        kHint);
      break;
    }
    done += static_cast<size_t>(got);
  }
  return done;
}

uint32_t big_endian(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_ndim) {
  GzFile in(path);
  if (!in.f)
    throw UserError(fmt::format("cannot open IDX file '{}'", path),
                    "check that the file exists and is readable");
  gzbuffer(in.f, 1 << 18);

  unsigned char header[4];
  size_t got = read_some(in, path, header, 4);
  if (got < 4)
    throw UserError(fmt::format("IDX file '{}' is truncated: expected a 4-byte header, found {} "
                                "bytes",
                                path, got),
                    kHint);
  uint32_t magic = big_endian(header);
  uint32_t expected_magic = (uint32_t{kTypeUbyte} << 8) | static_cast<uint32_t>(expected_ndim);
  if (header[0] != 0 || header[1] != 0)
    throw UserError(fmt::format("IDX file '{}' has a wrong magic number: expected 0x{:08X}, found "
                                "0x{:08X}",
                                path, expected_magic, magic),
                    kHint);
  if (header[2] != kTypeUbyte)
    throw UserError(fmt::format("IDX file '{}' has element type 0x{:02X} ({}), magic 0x{:08X}; "
                                "only unsigned byte (0x08, magic 0x{:08X}) is supported",
                                path, header[2], type_name(header[2]), magic, expected_magic),
                    kHint);
  if (header[3] != expected_ndim)
    throw UserError(fmt::format("IDX file '{}' has {} dimensions (magic 0x{:08X}); expected {} "
                                "(magic 0x{:08X})",
                                path, header[3], magic, expected_ndim, expected_magic),
                    expected_ndim == 3 ? "pass an images file (*-images-idx3-ubyte)"
                                       : "pass a labels file (*-labels-idx1-ubyte)");

  IdxArray out;
  int64_t total = 1;
  for (int d = 0; d < expected_ndim; ++d) {
    unsigned char b[4];
    got = read_some(in, path, b, 4);
    if (got < 4)
      throw UserError(fmt::format("IDX file '{}' is truncated in its header: dimension {} of {} "
                                  "is missing",
                                  path, d + 1, expected_ndim),
                      kHint);
    int64_t dim = big_endian(b);
    out.dims.push_back(dim);
    // Checked before multiplying: three 32-bit dimensions overflow int64.
    if (dim != 0 && total > kMaxElements / dim)
      throw UserError(fmt::format("IDX file '{}' declares an implausible size ({} elements)",
                                  path, fmt::join(out.dims, " x ")),
                      kHint);
    total *= dim;
  }

  // The buffer grows with the bytes that actually arrive: a header alone cannot make us allocate
  // what it declares (a 20-byte file may claim 2^40 bytes; gzip hides the real size).
  constexpr size_t kStep = size_t{64} << 20;
  got = 0;
  while (got < static_cast<size_t>(total)) {
    const size_t want = std::min(static_cast<size_t>(total) - got, kStep);
    out.data.resize(got + want);
    const size_t n = read_some(in, path, out.data.data() + got, want);
    got += n;
    if (n < want) break;
  }
  out.data.resize(got);
  if (got < static_cast<size_t>(total))
    throw UserError(fmt::format("IDX file '{}' is truncated: its dimensions need {} data bytes, "
                                "found {}",
                                path, total, got),
                    kHint);
  unsigned char extra;
  if (read_some(in, path, &extra, 1) != 0)
    throw UserError(
        fmt::format("IDX file '{}' has trailing bytes after its {} data bytes", path, total),
        kHint);
  return out;
}

}  // namespace scouter
