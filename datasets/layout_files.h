// Small readers the dataset layouts share (datasets/*_layout.cpp): sorted folder listings and
// numbered text lines, each failing with a UserError that names the folder or file.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace scouter {

// Names (not paths) of the sub-folders, or of the regular files, of dir, sorted bytewise.
// UserError naming dir (and `what`, e.g. "the ImageNet train folder") when it cannot be listed.
std::vector<std::string> list_folder(const std::string& dir, bool folders, const std::string& what);

bool is_folder(const std::string& path);

// Non-empty lines of a text file (trailing '\r' removed), each with its 1-based line number.
std::vector<std::pair<int, std::string>> read_numbered_lines(const std::string& path);

// Whitespace-separated fields of a line.
std::vector<std::string> fields(const std::string& line);

}  // namespace scouter
