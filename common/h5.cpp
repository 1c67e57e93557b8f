#include "common/h5.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <numeric>

#include "common/error.h"
#include "common/files.h"

namespace scouter::h5 {
namespace {

herr_t collect_message(unsigned n, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (err->desc && *err->desc) {
    if (!out->empty()) *out += "; ";
    *out += err->desc;
  }
  return n >= 3 ? 1 : 0;  // the innermost few messages say enough
}

Handle string_type(bool variable, size_t size = 0) {
  Handle t(H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  H5_CHECK(H5Tset_size(t.get(), variable ? H5T_VARIABLE : std::max<size_t>(size, 1)));
  // Fixed-length: padded with NULs, a string may fill the whole width (h5py reads it back whole).
  if (!variable) H5_CHECK(H5Tset_strpad(t.get(), H5T_STR_NULLPAD));
  H5_CHECK(H5Tset_cset(t.get(), H5T_CSET_UTF8));
  return t;
}

Handle open_attr(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) <= 0)
    throw Error(fmt::format("HDF5 attribute '{}' is missing", name));
  return Handle(H5_CHECK(H5Aopen(obj, name.c_str(), H5P_DEFAULT)), H5Aclose);
}

void replace_attr(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) > 0) H5_CHECK(H5Adelete(obj, name.c_str()));
}

template <typename T>
void write_attr_array(hid_t obj, const std::string& name, const std::vector<T>& values) {
  replace_attr(obj, name);
  hsize_t n = values.size();
  Handle space(H5_CHECK(H5Screate_simple(1, &n, nullptr)), H5Sclose);
  Handle attr(H5_CHECK(H5Acreate2(obj, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                                  H5P_DEFAULT)),
              H5Aclose);
  if (n > 0) H5_CHECK(H5Awrite(attr.get(), native_type<T>(), values.data()));  // HDF5 refuses a null buffer
}

// The most bytes an attribute may hold: ours are at most a few hundred KB (ImageNet's class
// names); a larger claim is damage, refused before memory is spent on it.
constexpr size_t kMaxAttrBytes = size_t{64} << 20;

void check_attr_size(const std::string& name, hssize_t n, size_t element) {
  if (n < 0 || element == 0 || static_cast<size_t>(n) > kMaxAttrBytes / element)
    throw Error(fmt::format("HDF5 attribute '{}' claims {} elements of {} bytes, over the {} MiB "
                            "an attribute may hold",
                            name, n, element, kMaxAttrBytes >> 20));
}

template <typename T>
std::vector<T> read_attr_array(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  Handle space(H5_CHECK(H5Aget_space(attr.get())), H5Sclose);
  hssize_t n = H5_CHECK(H5Sget_simple_extent_npoints(space.get()));
  check_attr_size(name, n, sizeof(T));
  std::vector<T> v(static_cast<size_t>(n));
  if (n > 0) H5_CHECK(H5Aread(attr.get(), native_type<T>(), v.data()));
  return v;
}

// The file format of every file written here (h5.h, "File format").
Handle checked_format_fapl() {
  Handle fapl(H5_CHECK(H5Pcreate(H5P_FILE_ACCESS)), H5Pclose);
  H5_CHECK(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_LATEST));
  return fapl;
}

// Bob Jenkins' lookup3 hashlittle (public domain), the checksum of HDF5's metadata blocks.
uint32_t lookup3(const uint8_t* k, size_t length, uint32_t initval) {
  auto rot = [](uint32_t x, int r) { return (x << r) | (x >> (32 - r)); };
  uint32_t a, b, c;
  a = b = c = 0xdeadbeef + static_cast<uint32_t>(length) + initval;
  auto word = [&](size_t i) {
    return uint32_t{k[i]} | uint32_t{k[i + 1]} << 8 | uint32_t{k[i + 2]} << 16 |
           uint32_t{k[i + 3]} << 24;
  };
  while (length > 12) {
    a += word(0);
    b += word(4);
    c += word(8);
    a -= c; a ^= rot(c, 4);  c += b;
    b -= a; b ^= rot(a, 6);  a += c;
    c -= b; c ^= rot(b, 8);  b += a;
    a -= c; a ^= rot(c, 16); c += b;
    b -= a; b ^= rot(a, 19); a += c;
    c -= b; c ^= rot(b, 4);  b += a;
    length -= 12;
    k += 12;
  }
  if (length == 0) return c;
  uint8_t tail[12] = {};
  std::memcpy(tail, k, length);
  a += uint32_t{tail[0]} | uint32_t{tail[1]} << 8 | uint32_t{tail[2]} << 16 | uint32_t{tail[3]} << 24;
  b += uint32_t{tail[4]} | uint32_t{tail[5]} << 8 | uint32_t{tail[6]} << 16 | uint32_t{tail[7]} << 24;
  c += uint32_t{tail[8]} | uint32_t{tail[9]} << 8 | uint32_t{tail[10]} << 16 | uint32_t{tail[11]} << 24;
  c ^= b; c -= rot(b, 14);
  a ^= c; a -= rot(c, 11);
  b ^= a; b -= rot(a, 25);
  c ^= b; c -= rot(b, 16);
  a ^= c; a -= rot(c, 4);
  b ^= a; b -= rot(a, 14);
  c ^= b; c -= rot(b, 24);
  return c;
}

constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

// HDF5 1.10's H5Fget_file_image copies the superblock of a version 2 or 3 superblock without
// recomputing its checksum after updating the end-of-file address in it, so the image does not
// open ("incorrect metadata checksum ... unable to load superblock"). The checksum is lookup3 of
// the superblock's bytes before it: signature, version, offset and length sizes, flags and four
// addresses. Left alone when it is already right (a fixed HDF5).
void fix_superblock_checksum(std::vector<char>& image) {
  auto* p = reinterpret_cast<uint8_t*>(image.data());
  if (image.size() < 12 || std::memcmp(p, kSignature, 8) != 0 || (p[8] != 2 && p[8] != 3)) return;
  const size_t body = 12 + 4 * size_t{p[9]};  // 4 addresses of sizeof_offsets bytes
  if (image.size() < body + 4) return;
  const uint32_t sum = lookup3(p, body, 0);
  uint8_t le[4] = {static_cast<uint8_t>(sum), static_cast<uint8_t>(sum >> 8),
                   static_cast<uint8_t>(sum >> 16), static_cast<uint8_t>(sum >> 24)};
  std::memcpy(p + body, le, 4);
}

}  // namespace

int superblock_version(const std::string& path) {
  // The superblock is at byte 0, or after a user block of 512, 1024, 2048, ... bytes.
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  int version = -1;
  unsigned char head[9];
  for (off_t at = 0; at <= (off_t{1} << 30) && version < 0; at = at == 0 ? 512 : at * 2) {
    if (::pread(fd, head, sizeof head, at) != static_cast<ssize_t>(sizeof head)) break;
    if (std::memcmp(head, kSignature, 8) == 0) version = head[8];
  }
  ::close(fd);
  return version;
}

bool has_metadata_checksums(const std::string& path) { return superblock_version(path) >= 2; }

namespace {

// Reads every attribute of an object (values into a bounded buffer, vlen strings reclaimed).
herr_t read_one_attr(hid_t loc, const char* name, const H5A_info_t*, void*) {
  Handle attr(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) return -1;
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  if (!type.valid() || !space.valid()) return -1;
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  const size_t size = H5Tget_size(type.get());
  if (n < 0 || size == 0 || static_cast<size_t>(n) > kMaxAttrBytes / size) return -1;
  if (H5Tget_class(type.get()) == H5T_STRING && H5Tis_variable_str(type.get()) > 0) {
    Handle mtype = string_type(true);
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    if (n > 0 && H5Aread(attr.get(), mtype.get(), ptrs.data()) >= 0)
      H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data());
    return 0;
  }
  std::vector<char> buf(static_cast<size_t>(n) * size + 1);
  if (n > 0) H5Aread(attr.get(), type.get(), buf.data());
  return 0;
}

herr_t read_one_object(hid_t loc, const char* name, const H5O_info_t* info, void*) {
  Handle obj(H5Oopen(loc, name, H5P_DEFAULT), H5Oclose);
  if (!obj.valid()) return -1;
  hsize_t index = 0;
  if (H5Aiterate2(obj.get(), H5_INDEX_NAME, H5_ITER_NATIVE, &index, read_one_attr, nullptr) < 0)
    return -1;
  if (info->type != H5O_TYPE_DATASET) return 0;
  Handle type(H5Dget_type(obj.get()), H5Tclose);
  Handle space(H5Dget_space(obj.get()), H5Sclose);
  Handle dcpl(H5Dget_create_plist(obj.get()), H5Pclose);
  if (!type.valid() || !space.valid() || !dcpl.valid()) return -1;
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return 0;
  hsize_t chunks = 0;  // the chunk index, entry by entry
  if (H5Dget_num_chunks(obj.get(), space.get(), &chunks) < 0) return -1;
  for (hsize_t c = 0; c < chunks; ++c) {
    haddr_t addr = 0;
    hsize_t size = 0;
    unsigned mask = 0;
    if (H5Dget_chunk_info(obj.get(), space.get(), c, nullptr, &mask, &addr, &size) < 0) return -1;
  }
  return 0;
}

}  // namespace

void probe_unchecked(const std::string& path, int timeout_s) {
  const int version = superblock_version(path);  // one read of the first bytes
  if (version < 0 || version >= 2) return;       // not HDF5 (open_file says so), or checked
  if (const char* env = std::getenv("SCOUTER_HDF5_PROBE_SECONDS")) {  // tests, fuzzing
    const int v = std::atoi(env);
    if (v >= 1 && v <= 3600) timeout_s = v;
  }
  const pid_t child = ::fork();
  if (child < 0) return;  // no probe possible: the caller reads it unprobed, as before
  if (child == 0) {
    // A crash must kill this child, not run the parent's handlers (a sanitizer's report, a
    // fuzzer's crash dump) in it; a hang ends at the alarm.
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM}) ::signal(sig, SIG_DFL);
    ::alarm(static_cast<unsigned>(timeout_s));
    silence_library_errors();
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file >= 0)  // the root object first, then every object below it
      H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_NATIVE, read_one_object, nullptr, H5O_INFO_BASIC);
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
    throw Error(fmt::format("reading its HDF5 metadata did not finish within {} s (in HDF5's "
                            "earliest file format, damaged metadata can make libhdf5 loop)",
                            timeout_s));
  throw Error(fmt::format("its HDF5 metadata is damaged: reading it crashed libhdf5 ({}) in a "
                          "probe process (HDF5's earliest file format has no metadata checksums)",
                          WIFSIGNALED(status) ? strsignal(WTERMSIG(status))
                                              : fmt::format("exit {}", WEXITSTATUS(status))));
}

// HDF5's innermost messages on one line (its OS errors span several lines).
std::string library_messages() {
  std::string stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_message, &stack);
  H5Eclear2(H5E_DEFAULT);
  for (char& c : stack)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return stack;
}

void fail(const char* expr, const char* file, int line) {
  std::string stack = library_messages();
  throw Error(fmt::format("HDF5 call failed: {} ({}:{}){}{}", expr, file, line,
                          stack.empty() ? "" : ": ", stack));
}

bool is_checksum_error(const std::string& message) {
  return message.find("checksum") != std::string::npos ||
         message.find("Fletcher32") != std::string::npos;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCOUTER_H5_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SCOUTER_H5_UNDER_ASAN 1
#endif

void silence_library_errors() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
#ifdef SCOUTER_H5_UNDER_ASAN
  // Under AddressSanitizer (scripts/sanitize.sh): no HDF5 free lists, so freed HDF5 memory goes
  // back to malloc at once. Otherwise a block reused from a free list carries the stack of its
  // first allocation, and LeakSanitizer blames a leak of libhdf5's on damaged files
  // (tests/fuzz/lsan.supp) on whatever code allocated the block first; it also hides
  // use-after-free inside libhdf5.
  static const bool once = (H5set_free_list_limits(0, 0, 0, 0, 0, 0), true);
  (void)once;
#endif
}

size_t DatasetInfo::num_elements() const {
  return std::accumulate(dims.begin(), dims.end(), size_t{1},
                         [](size_t a, hsize_t b) { return a * static_cast<size_t>(b); });
}

Handle create_file(const std::string& path) {
  silence_library_errors();
  Handle fapl = checked_format_fapl();
  return Handle(H5_CHECK(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get())),
                H5Fclose);
}

void close_file(Handle& file, const std::string& path) {
  hid_t id = file.release();
  if (id >= 0 && H5Fclose(id) < 0)
    throw Error(fmt::format("cannot finish writing '{}': {}", path, library_messages()));
}

Handle open_file(const std::string& path, bool writable) {
  silence_library_errors();
  int fd = ::open(path.c_str(), writable ? O_RDWR : O_RDONLY);
  if (fd < 0) {
    int err = errno;
    throw UserError(fmt::format("cannot open '{}': {}", path, os_reason(err)), os_hint(err));
  }
  struct stat st {};
  ::fstat(fd, &st);
  ::close(fd);
  if (S_ISDIR(st.st_mode))
    throw UserError(fmt::format("'{}' is a folder, not an HDF5 file", path), "give the file's path");
  hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) {
    std::string why = library_messages();
    throw UserError(fmt::format("'{}' is not a complete HDF5 file ({} bytes; truncated, corrupt "
                                "or of another kind{}{})",
                                path, st.st_size, why.empty() ? "" : ": HDF5 says ", why),
                    "write it again (scouter prep for shards; checkpoints: the run resumes from "
                    "an older one)");
  }
  return Handle(id, H5Fclose);
}

Handle create_memory_file() {
  silence_library_errors();
  Handle fapl = checked_format_fapl();
  H5_CHECK(H5Pset_fapl_core(fapl.get(), size_t{64} << 20, /*backing_store=*/0));
  static std::atomic<int> counter{0};
  std::string name = fmt::format("scouter-memory-{}-{}.h5", ::getpid(), counter++);
  return Handle(H5_CHECK(H5Fcreate(name.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get())),
                H5Fclose);
}

void write_memory_file(Handle& file, const std::string& path) {
  H5_CHECK(H5Fflush(file.get(), H5F_SCOPE_GLOBAL));
  ssize_t size = H5_CHECK(H5Fget_file_image(file.get(), nullptr, 0));
  std::vector<char> image(static_cast<size_t>(size));
  H5_CHECK(H5Fget_file_image(file.get(), image.data(), image.size()));
  close_file(file, path);
  fix_superblock_checksum(image);
  write_file_atomic(path, image.data(), image.size());
}

Handle open_memory_copy(const std::string& path) {
  silence_library_errors();
  Handle fapl = checked_format_fapl();
  H5_CHECK(H5Pset_fapl_core(fapl.get(), size_t{64} << 20, /*backing_store=*/0));
  return Handle(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get())), H5Fclose);
}

bool is_hdf5(const std::string& path) {
  silence_library_errors();
  return H5Fis_hdf5(path.c_str()) > 0;
}

Handle create_group(hid_t loc, const std::string& name) {
  Handle lcpl(H5_CHECK(H5Pcreate(H5P_LINK_CREATE)), H5Pclose);
  H5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1));
  return Handle(H5_CHECK(H5Gcreate2(loc, name.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Gclose);
}

Handle open_group(hid_t loc, const std::string& name) {
  if (!exists(loc, name)) throw Error(fmt::format("HDF5 group '{}' is missing", name));
  return Handle(H5_CHECK(H5Gopen2(loc, name.c_str(), H5P_DEFAULT)), H5Gclose);
}

bool exists(hid_t loc, const std::string& name) {
  return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0;
}

std::vector<std::string> list_children(hid_t group) {
  H5G_info_t info;
  H5_CHECK(H5Gget_info(group, &info));
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len = H5_CHECK(H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr,
                                              0, H5P_DEFAULT));
    std::string name(static_cast<size_t>(len), '\0');
    H5_CHECK(H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                                static_cast<size_t>(len) + 1, H5P_DEFAULT));
    names.push_back(std::move(name));
  }
  return names;
}

void write_raw(hid_t loc, const std::string& name, hid_t mem_type, const std::vector<hsize_t>& dims,
               const void* data, const std::vector<hsize_t>& chunk, int deflate_level) {
  Handle space(H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)),
               H5Sclose);
  Handle dcpl(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)), H5Pclose);
  if (!chunk.empty()) {
    H5_CHECK(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()));
    if (deflate_level > 0) {
      H5_CHECK(H5Pset_shuffle(dcpl.get()));
      H5_CHECK(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate_level)));
    }
    H5_CHECK(H5Pset_fletcher32(dcpl.get()));  // last: it checks the stored (filtered) bytes
  }
  Handle lcpl(H5_CHECK(H5Pcreate(H5P_LINK_CREATE)), H5Pclose);
  H5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1));
  Handle ds(H5_CHECK(H5Dcreate2(loc, name.c_str(), mem_type, space.get(), lcpl.get(), dcpl.get(),
                                H5P_DEFAULT)),
            H5Dclose);
  if (data != nullptr)
    H5_CHECK(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
}

Handle open_dataset(hid_t loc, const std::string& name) {
  if (!exists(loc, name)) throw Error(fmt::format("HDF5 dataset '{}' is missing", name));
  return Handle(H5_CHECK(H5Dopen2(loc, name.c_str(), H5P_DEFAULT)), H5Dclose);
}

DatasetInfo dataset_info(hid_t loc, const std::string& name) {
  Handle ds = open_dataset(loc, name);
  Handle space(H5_CHECK(H5Dget_space(ds.get())), H5Sclose);
  int rank = H5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  DatasetInfo info;
  info.dims.resize(static_cast<size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(space.get(), info.dims.data(), nullptr));
  Handle type(H5_CHECK(H5Dget_type(ds.get())), H5Tclose);
  info.type_class = H5Tget_class(type.get());
  info.type_size = H5Tget_size(type.get());
  info.is_signed = info.type_class == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_2;
  return info;
}

void read_raw(hid_t loc, const std::string& name, hid_t mem_type, void* out) {
  Handle ds = open_dataset(loc, name);
  H5_CHECK(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out));
}

void read_rows(hid_t dataset, hid_t mem_type, hsize_t first, hsize_t count, void* out) {
  Handle fspace(H5_CHECK(H5Dget_space(dataset)), H5Sclose);
  int rank = H5_CHECK(H5Sget_simple_extent_ndims(fspace.get()));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(fspace.get(), dims.data(), nullptr));
  if (rank == 0 || first + count > dims[0])
    throw Error(fmt::format("HDF5 row range [{}, {}) outside a dataset of {} rows", first,
                            first + count, rank ? dims[0] : 0));
  std::vector<hsize_t> start(dims.size(), 0), cnt = dims;
  start[0] = first;
  cnt[0] = count;
  H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, cnt.data(),
                               nullptr));
  Handle mspace(H5_CHECK(H5Screate_simple(rank, cnt.data(), nullptr)), H5Sclose);
  H5_CHECK(H5Dread(dataset, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, out));
}

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

void write_attr(hid_t obj, const std::string& name, const std::string& value) {
  replace_attr(obj, name);
  Handle type = string_type(false, value.size());
  Handle space(H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Handle attr(
      H5_CHECK(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT)),
      H5Aclose);
  std::string padded = value;
  padded.resize(std::max<size_t>(value.size(), 1), '\0');
  H5_CHECK(H5Awrite(attr.get(), type.get(), padded.data()));
}

void write_attr(hid_t obj, const std::string& name, int64_t value) {
  replace_attr(obj, name);
  Handle space(H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Handle attr(H5_CHECK(H5Acreate2(obj, name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT,
                                  H5P_DEFAULT)),
              H5Aclose);
  H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value));
}

void write_attr(hid_t obj, const std::string& name, double value) {
  replace_attr(obj, name);
  Handle space(H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Handle attr(H5_CHECK(H5Acreate2(obj, name.c_str(), H5T_NATIVE_DOUBLE, space.get(), H5P_DEFAULT,
                                  H5P_DEFAULT)),
              H5Aclose);
  H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value));
}

void write_attr(hid_t obj, const std::string& name, const std::vector<double>& values) {
  write_attr_array(obj, name, values);
}

void write_attr(hid_t obj, const std::string& name, const std::vector<int64_t>& values) {
  write_attr_array(obj, name, values);
}

void write_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values) {
  replace_attr(obj, name);
  std::vector<char> packed;
  const size_t width = pack_strings(values, &packed);
  Handle type = string_type(false, width);
  hsize_t n = values.size();
  Handle space(H5_CHECK(H5Screate_simple(1, &n, nullptr)), H5Sclose);
  Handle attr(
      H5_CHECK(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT)),
      H5Aclose);
  if (n > 0) H5_CHECK(H5Awrite(attr.get(), type.get(), packed.data()));
}

size_t pack_strings(const std::vector<std::string>& values, std::vector<char>* packed) {
  size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  packed->assign(values.size() * width, '\0');
  for (size_t i = 0; i < values.size(); ++i)
    std::memcpy(packed->data() + i * width, values[i].data(), values[i].size());
  return width;
}

Handle fixed_string_type(size_t width) { return string_type(false, width); }

std::vector<std::string> unpack_strings(const std::vector<char>& packed, size_t width) {
  std::vector<std::string> out;
  for (size_t at = 0; width > 0 && at + width <= packed.size(); at += width) {
    const char* p = packed.data() + at;
    out.emplace_back(p, strnlen(p, width));
  }
  return out;
}

std::vector<std::string> read_attr_strings(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  Handle ftype(H5_CHECK(H5Aget_type(attr.get())), H5Tclose);
  if (H5Tget_class(ftype.get()) != H5T_STRING)
    throw Error(fmt::format("HDF5 attribute '{}' is not a string", name));
  Handle space(H5_CHECK(H5Aget_space(attr.get())), H5Sclose);
  hssize_t count = H5_CHECK(H5Sget_simple_extent_npoints(space.get()));
  const bool variable = H5Tis_variable_str(ftype.get()) > 0;
  check_attr_size(name, count, variable ? sizeof(char*) : H5Tget_size(ftype.get()));
  auto n = static_cast<size_t>(count);
  std::vector<std::string> out;
  if (n == 0) return out;
  if (variable) {
    Handle mtype = string_type(true);
    std::vector<char*> ptrs(n, nullptr);
    H5_CHECK(H5Aread(attr.get(), mtype.get(), ptrs.data()));
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5_CHECK(H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data()));
  } else {
    size_t size = H5Tget_size(ftype.get());
    std::vector<char> buf(n * size);
    H5_CHECK(H5Aread(attr.get(), ftype.get(), buf.data()));  // as stored: no conversion
    out = unpack_strings(buf, size);
  }
  return out;
}

std::string read_attr_string(hid_t obj, const std::string& name) {
  auto v = read_attr_strings(obj, name);
  if (v.size() != 1) throw Error(fmt::format("HDF5 attribute '{}' is not a single string", name));
  return v[0];
}

int64_t read_attr_int(hid_t obj, const std::string& name) {
  auto v = read_attr_array<int64_t>(obj, name);
  if (v.size() != 1) throw Error(fmt::format("HDF5 attribute '{}' is not a single integer", name));
  return v[0];
}

double read_attr_double(hid_t obj, const std::string& name) {
  auto v = read_attr_array<double>(obj, name);
  if (v.size() != 1) throw Error(fmt::format("HDF5 attribute '{}' is not a single number", name));
  return v[0];
}

std::vector<double> read_attr_doubles(hid_t obj, const std::string& name) {
  return read_attr_array<double>(obj, name);
}

std::vector<int64_t> read_attr_ints(hid_t obj, const std::string& name) {
  return read_attr_array<int64_t>(obj, name);
}

}  // namespace scouter::h5
