#include "datasets/layout_files.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace fs = std::filesystem;

namespace scouter {

std::vector<std::string> list_folder(const std::string& dir, bool folders,
                                     const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw UserError(fmt::format("{} '{}' does not exist or is not a folder", what, dir),
                    "check --src (the dataset's root folder)");
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    bool is_dir = it->is_directory(type_ec);
    bool is_file = it->is_regular_file(type_ec);
    if (folders ? is_dir : is_file) names.push_back(it->path().filename().string());
  }
  if (ec)
    throw UserError(fmt::format("cannot list {} '{}': {}", what, dir, ec.message()),
                    "check the folder's permissions");
  std::sort(names.begin(), names.end());
  return names;
}

bool is_folder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::vector<std::pair<int, std::string>> read_numbered_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot open '{}' for reading", path), "check the path");
  std::vector<std::pair<int, std::string>> lines;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    lines.emplace_back(number, line);
  }
  if (in.bad()) throw UserError(fmt::format("cannot read '{}'", path), "check the file");
  return lines;
}

std::vector<std::string> fields(const std::string& line) {
  std::istringstream ss(line);
  std::vector<std::string> out;
  std::string f;
  while (ss >> f) out.push_back(f);
  return out;
}

}  // namespace scouter
