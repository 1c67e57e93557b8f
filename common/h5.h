// Thin RAII layer over the HDF5 C API: every id is owned by an H5Handle that closes it, every
// call goes through H5_CHECK, which throws scouter::Error with the call, file:line and HDF5's own
// error stack. Shards (datasets/) and checkpoints (worker/) are both built on this.
//
// File format. Every file created here (create_file, create_memory_file) is in HDF5 1.10's file
// format (superblock version 3; libver bounds V110..LATEST), in which every metadata block
// (superblock, object headers with their attributes, chunk indexes, heaps of names) carries a
// checksum that HDF5 verifies when it reads the block: damaged metadata is an error, not a
// crash or an endless loop. Strings are fixed-length (NUL-padded): variable-length strings live
// in HDF5's global heap, whose blocks carry no checksum. Readable by HDF5 >= 1.10 (h5py too).
// Files of the earliest format (superblock 0 or 1; what scouter wrote before) have no metadata
// checksums: callers say so (superblock_version) and protect them as they can.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace scouter::h5 {

// Throws scouter::Error naming the failed call and HDF5's innermost messages.
[[noreturn]] void fail(const char* expr, const char* file, int line);

// Switches off HDF5's own printing of error stacks (we report them in the exception).
void silence_library_errors();

class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = -1;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Gives up ownership without closing (the caller closes and checks the result).
  hid_t release() {
    hid_t id = id_;
    id_ = -1;
    return id;
  }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

template <typename T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, uint8_t>) return H5T_NATIVE_UINT8;
  else if constexpr (std::is_same_v<T, int64_t>) return H5T_NATIVE_INT64;
  else if constexpr (std::is_same_v<T, int32_t>) return H5T_NATIVE_INT32;
  else if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else static_assert(sizeof(T) == 0, "unsupported HDF5 element type");
}

Handle create_file(const std::string& path);  // truncates
// Closes a file, reporting a failed final flush (H5Fclose's result) as Error; `path` names it.
void close_file(Handle& file, const std::string& path);
// Opens an existing file. A file that is missing, unreadable, truncated or not HDF5 is one
// UserError naming the file and the reason, without our source location.
Handle open_file(const std::string& path, bool writable = false);
bool is_hdf5(const std::string& path);
// The superblock version read from the file's first bytes (no HDF5 parsing): 0 or 1 for the
// earliest file format, 2 or 3 for formats with metadata checksums; -1 when it is not HDF5.
int superblock_version(const std::string& path);
// superblock_version >= 2: HDF5 verifies every metadata block it reads.
bool has_metadata_checksums(const std::string& path);
// For a file without metadata checksums (the earliest format), whose damaged metadata can crash
// or hang libhdf5 itself: reads all of its metadata (every object, attribute, datatype,
// dataspace and chunk index; no raw data) in a forked child first. Throws Error saying what
// happened when the child dies of a signal or does not finish within `timeout_s`; returns when
// it finished, even with an ordinary HDF5 error (which the caller's own read then reports).
// Costs a fork and a metadata walk (milliseconds for a shard or checkpoint). No-op for files
// with metadata checksums. SCOUTER_HDF5_PROBE_SECONDS (1..3600) overrides timeout_s.
void probe_unchecked(const std::string& path, int timeout_s = 120);

// A file built in memory (HDF5's core driver, nothing on disk) and then written in one piece by
// write_memory_file: through AtomicOutput, every write(2) and fsync checked, so a full disk is
// one clear error and never a corrupt file under its final name (checkpoints, shards).
Handle create_memory_file();
void write_memory_file(Handle& file, const std::string& path);
// A writable copy in memory of an existing file, for write_memory_file to write back in one piece.
Handle open_memory_copy(const std::string& path);

Handle create_group(hid_t loc, const std::string& name);  // creates parents too
Handle open_group(hid_t loc, const std::string& name);
bool exists(hid_t loc, const std::string& name);  // a link of that name (one level)
std::vector<std::string> list_children(hid_t group);  // names in creation-or-name order

// Datasets. `chunk` empty: contiguous layout. deflate_level 0: no compression. Chunked datasets
// carry HDF5's Fletcher32 checksum per chunk, which every read verifies (a flipped byte fails
// the read with "checksum" in the message: see is_checksum_error).
void write_raw(hid_t loc, const std::string& name, hid_t mem_type, const std::vector<hsize_t>& dims,
               const void* data, const std::vector<hsize_t>& chunk = {}, int deflate_level = 0);
template <typename T>
void write(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, const T* data,
           const std::vector<hsize_t>& chunk = {}, int deflate_level = 0) {
  write_raw(loc, name, native_type<T>(), dims, data, chunk, deflate_level);
}

struct DatasetInfo {
  std::vector<hsize_t> dims;
  H5T_class_t type_class = H5T_NO_CLASS;
  size_t type_size = 0;
  bool is_signed = false;
  size_t num_elements() const;
};
DatasetInfo dataset_info(hid_t loc, const std::string& name);

// Reads the whole dataset, converted to T; `out` must hold num_elements().
void read_raw(hid_t loc, const std::string& name, hid_t mem_type, void* out);
template <typename T>
std::vector<T> read(hid_t loc, const std::string& name) {
  std::vector<T> v(dataset_info(loc, name).num_elements());
  read_raw(loc, name, native_type<T>(), v.data());
  return v;
}
// Reads rows [first, first+count) along axis 0 of an open dataset into `out`.
void read_rows(hid_t dataset, hid_t mem_type, hsize_t first, hsize_t count, void* out);
Handle open_dataset(hid_t loc, const std::string& name);
// Whether an Error from a read was HDF5's Fletcher32 check failing.
bool is_checksum_error(const std::string& message);

// Attributes on a file, group or dataset.
bool has_attr(hid_t obj, const std::string& name);
void write_attr(hid_t obj, const std::string& name, const std::string& value);
void write_attr(hid_t obj, const std::string& name, int64_t value);
void write_attr(hid_t obj, const std::string& name, double value);
void write_attr(hid_t obj, const std::string& name, const std::vector<double>& values);
void write_attr(hid_t obj, const std::string& name, const std::vector<int64_t>& values);
void write_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values);
std::string read_attr_string(hid_t obj, const std::string& name);
int64_t read_attr_int(hid_t obj, const std::string& name);
double read_attr_double(hid_t obj, const std::string& name);
std::vector<double> read_attr_doubles(hid_t obj, const std::string& name);
std::vector<int64_t> read_attr_ints(hid_t obj, const std::string& name);
std::vector<std::string> read_attr_strings(hid_t obj, const std::string& name);

// Fixed-length strings (see "File format"): `values` packed NUL-padded into rows of the returned
// width (the longest value, at least 1), the HDF5 type of such a row, and the reverse.
size_t pack_strings(const std::vector<std::string>& values, std::vector<char>* packed);
Handle fixed_string_type(size_t width);
std::vector<std::string> unpack_strings(const std::vector<char>& packed, size_t width);

}  // namespace scouter::h5

#define H5_CHECK(expr)                                                      \
  ([&]() {                                                                  \
    auto h5_check_result_ = (expr);                                         \
    if (h5_check_result_ < 0) ::scouter::h5::fail(#expr, __FILE__, __LINE__); \
    return h5_check_result_;                                                \
  }())
