#include "datasets/shard_fingerprint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "common/text.h"
#include "datasets/shard_checksum.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

// A read-only file descriptor, closed on scope exit.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// True when Fletcher32 is the last filter of the chunked dataset `ds`: then the last 4 bytes of
// every stored chunk are its checksum (common/h5.cpp adds it last, over the filtered bytes).
bool ends_with_fletcher32(hid_t ds) {
  h5::Handle dcpl(H5_CHECK(H5Dget_create_plist(ds)), H5Pclose);
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return false;
  int n = H5_CHECK(H5Pget_nfilters(dcpl.get()));
  if (n < 1) return false;
  unsigned flags = 0;
  size_t nelem = 0;
  unsigned config = 0;
  H5Z_filter_t id = H5_CHECK(H5Pget_filter2(dcpl.get(), static_cast<unsigned>(n - 1), &flags,
                                            &nelem, nullptr, 0, nullptr, &config));
  return id == H5Z_FILTER_FLETCHER32;
}

std::string hex(const unsigned char* b, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[b[i] >> 4];
    s += kDigits[b[i] & 15];
  }
  return s;
}

// "<name> <rows> <chunks>\n" and one line per chunk: its stored checksum, in row order.
// Returns false (text untouched) when the dataset carries no chunk checksums.
bool chunk_checksums(hid_t file, int fd, const std::string& path, const char* name,
                     std::string& text, int64_t& chunks) {
  h5::Handle ds = h5::open_dataset(file, name);
  if (!ends_with_fletcher32(ds.get())) return false;
  h5::Handle space(H5_CHECK(H5Dget_space(ds.get())), H5Sclose);
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 1)), 0);
  H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  // Chunks by their first row, looked up in the chunk index one by one (by coordinate: the
  // index-order H5Dget_chunk_info walks the index from its start on every call).
  h5::Handle dcpl(H5_CHECK(H5Dget_create_plist(ds.get())), H5Pclose);
  std::vector<hsize_t> chunk(dims.size(), 0);
  H5_CHECK(H5Pget_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()));
  const hsize_t n = chunk[0] == 0 ? 0 : (dims[0] + chunk[0] - 1) / chunk[0];
  std::vector<std::string> sums;
  std::vector<hsize_t> offset(dims.size(), 0);
  for (hsize_t i = 0; i < n; ++i) {
    offset[0] = i * chunk[0];
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    H5_CHECK(H5Dget_chunk_info_by_coord(ds.get(), offset.data(), &mask, &addr, &size));
    unsigned char b[4];
    if (addr == HADDR_UNDEF || size < 4 ||
        ::pread(fd, b, 4, static_cast<off_t>(addr + size - 4)) != 4)
      throw UserError(str_format("shard '{}': cannot read the checksum of the chunk of '{}' at row "
                                 "{} ({})",
                                 path, name, offset[0],
                                 addr == HADDR_UNDEF || size < 4 ? "no stored chunk" : os_reason(errno)),
                      "re-run `scouter prep` for this dataset with the same --out");
    sums.push_back(hex(b, 4));
  }
  text += str_format("{} {} {}\n", name, dims[0], n);
  for (const auto& sum : sums) text += sum + "\n";
  chunks += static_cast<int64_t>(n);
  return true;
}

std::string numbers(const std::vector<double>& v) {
  std::vector<std::string> parts;
  char buf[40];
  for (double x : v) {
    std::snprintf(buf, sizeof buf, "%.17g", x);
    parts.emplace_back(buf);
  }
  return join(parts, ",");
}

// The attributes that say what the stored data means (shard_format.h).
std::string meta_text(hid_t file) {
  std::string s;
  for (const char* a : {"dataset", "split"}) s += str_format("{} {}\n", a, h5::read_attr_string(file, a));
  for (const char* a : {"shard_index", "num_shards", "first_index", "total_count", "num_classes"})
    s += str_format("{} {}\n", a, h5::read_attr_int(file, a));
  s += "class_names " + join(h5::read_attr_strings(file, "class_names"), "|") + "\n";
  for (const char* a : {"mean", "std"}) s += str_format("{} {}\n", a, numbers(h5::read_attr_doubles(file, a)));
  s += str_format("flip_allowed {}\n", h5::has_attr(file, "flip_allowed")
                                           ? h5::read_attr_int(file, "flip_allowed")
                                           : int64_t{0});
  return s;
}

}  // namespace

ShardDigest shard_digest(const std::string& path) {
  ShardDigest d;
  d.file = fs::path(path).filename().string();
  h5::Handle file = h5::open_file(path);
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0)
    throw UserError(str_format("cannot read shard '{}': {}", path, os_reason(errno)), os_hint(errno));
  std::string text = "scouter-shard-fingerprint 1\n" + meta_text(file.get());
  bool checked = true;
  for (const char* name : kChecksummedDatasets)
    if (h5::exists(file.get(), name))
      checked = checked && chunk_checksums(file.get(), fd.fd, path, name, text, d.chunks);
  if (!checked) {  // format version 1: no stored checksums, so the bytes themselves
    d.from_chunk_checksums = false;
    d.chunks = 0;
    d.sha256 = sha256_file(path);
    return d;
  }
  d.sha256 = sha256_bytes(text.data(), text.size());
  return d;
}

DataFingerprint data_fingerprint(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& splits) {
  DataFingerprint f;
  std::vector<std::string> lines;
  for (const auto& [split, paths] : splits)
    for (const auto& p : paths) {
      ShardDigest d = shard_digest(p);
      lines.push_back(str_format("{}/{} {}\n", split, d.file, d.sha256));
      ++f.files;
      f.chunks += d.chunks;
      f.whole_files_hashed += d.from_chunk_checksums ? 0 : 1;
    }
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const auto& l : lines) all += l;
  f.sha256 = sha256_bytes(all.data(), all.size());
  return f;
}

}  // namespace scouter
