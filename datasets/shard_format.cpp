#include "datasets/shard_format.h"

#include <fmt/format.h>

#include <cctype>

namespace scouter {
namespace {

// Parses a run of decimal digits at s[pos..], advancing pos; false if there is none.
bool parse_digits(const std::string& s, size_t& pos, int64_t* value) {
  size_t start = pos;
  int64_t v = 0;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
    if (pos - start >= 12) return false;  // no split has a trillion files
    v = v * 10 + (s[pos] - '0');
    ++pos;
  }
  *value = v;
  return pos > start;
}

}  // namespace

std::string shard_path(const std::string& dir, const std::string& split, int64_t index,
                       int64_t count) {
  return fmt::format("{}/{}-{:05d}-of-{:05d}.h5", dir, split, index, count);
}

bool parse_shard_name(const std::string& name, const std::string& split, int64_t* index,
                      int64_t* count) {
  std::string prefix = split + "-";
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t pos = prefix.size();
  if (!parse_digits(name, pos, index)) return false;
  if (name.compare(pos, 4, "-of-") != 0) return false;
  pos += 4;
  if (!parse_digits(name, pos, count)) return false;
  return name.size() == pos + 3 && name.compare(pos, 3, ".h5") == 0;
}

}  // namespace scouter
