// File helpers that never leave a half-written output: every writer goes through
// AtomicOutput (write to a temporary name in the same folder, then rename), and content is
// identified by SHA-256.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

// A temporary path beside `path`; commit() renames it into place. If commit() is never
// called (an exception, a crash handled by the caller), the destructor removes the temporary.
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

// Lower-case hex SHA-256 of a file's bytes (OpenSSL's libcrypto).
std::string sha256_file(const std::string& path);
std::string sha256_bytes(const void* data, size_t size);

bool file_exists(const std::string& path);

// Removes `path` and everything below it (nothing if it does not exist); symbolic links are
// removed, not followed. Returns false with errno's text in *error (when given) if something could
// not be removed. Use it instead of std::filesystem::remove_all: PyTorch's pip wheels export their
// own statically linked std::filesystem, and remove_all crashes in a process linked with them
// (pytorch/pytorch#133437; seen on the GPU machine, docs/gpu.md).
bool remove_tree(const std::string& path, std::string* error = nullptr);

}  // namespace scouter
