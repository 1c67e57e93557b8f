// File helpers that never leave a half-written output: every writer goes through
// AtomicOutput (write to a temporary name in the same folder, fsync it, rename it into place,
// fsync the folder), and content is identified by SHA-256. A failed write, flush or rename is one
// UserError naming the file and the OS's reason ("No space left on device"), and nothing appears
// under the final name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

// A temporary path beside `path` (`<path>.tmp.<pid>.<n>`); commit() makes the temporary durable
// (fsync), renames it into place and fsyncs the folder, so after commit() returns the file
// survives a crash of the machine. If commit() is never called (an exception), the destructor
// removes the temporary; remove_stale_temporaries() clears those a killed process left.
class AtomicOutput {
 public:
  explicit AtomicOutput(std::string path);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::string& temp_path() const { return temp_; }
  const std::string& path() const { return path_; }
  void commit();

 private:
  std::string path_;
  std::string temp_;
  bool committed_ = false;
};

// Creates the folder and its parents; throws UserError naming the folder if that fails.
void ensure_dir(const std::string& dir);

std::string read_text_file(const std::string& path);
void write_text_file_atomic(const std::string& path, const std::string& text);
// Writes `size` bytes to `path` through AtomicOutput, checking every write(2) and fsync.
void write_file_atomic(const std::string& path, const void* data, size_t size);
// Appends `text` to `path` (created if missing) and fsyncs it.
void append_file_durable(const std::string& path, const std::string& text);
// fsync of an existing file or folder; UserError naming it on failure.
void fsync_path(const std::string& path);

// Removes `<name>.tmp.<pid>.<n>` files in `dir` whose process no longer runs on this host
// (a killed write's leftovers). Returns how many were removed.
int remove_stale_temporaries(const std::string& dir);

// The OS reason for errno `err` with a hint for the common cases (disk full, quota, read-only,
// permissions), for messages of the form "cannot write 'X': <reason>".
std::string os_reason(int err);
std::string os_hint(int err);

// Lower-case hex SHA-256 of a file's bytes (OpenSSL's libcrypto).
std::string sha256_file(const std::string& path);
std::string sha256_bytes(const void* data, size_t size);

bool file_exists(const std::string& path);

// Removes `path` and everything below it (nothing if it does not exist); symbolic links are
// removed, not followed. Returns false with errno's text in *error (when given) if something could
// not be removed. Use it instead of std::filesystem::remove_all: PyTorch's pip wheels export their
// own statically linked std::filesystem, and remove_all crashes in a process linked with them
// (pytorch/pytorch#133437; seen with PyTorch 2.11's pip LibTorch, docs/gpu.md).
bool remove_tree(const std::string& path, std::string* error = nullptr);

}  // namespace scouter
