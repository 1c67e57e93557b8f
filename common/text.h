// Small string helpers shared by the config, the CLI and the reports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace scouter {

size_t edit_distance(const std::string& a, const std::string& b);
// The entry of `valid` closest to `name` by edit distance when it is close enough to be a typo
// (at most a third of the letters, and at least 2, differ), else "": the "did you mean" of every
// message about an unknown name (config keys, sweep resource keys).
std::string nearest_name(const std::string& name, const std::vector<std::string>& valid);
std::string to_lower(std::string s);
std::string join(const std::vector<std::string>& parts, const std::string& sep);
// "1, 2, 3" (shapes in messages).
std::string join_ints(const std::vector<int64_t>& v);
std::vector<std::string> split(const std::string& s, char sep);
// Escapes &, <, >, " and ' for HTML and XML text and attribute values.
std::string html_escape(const std::string& s);
bool starts_with(const std::string& s, const std::string& prefix);
// Bytes from a file (a key, a name, a value) made safe for one line of a message: valid UTF-8
// stays as it is; control characters, DEL and bytes that are not valid UTF-8 become \xNN (a
// backslash in the input stays as it is); past `max` input bytes the rest is cut (never inside a
// character) and "... (N bytes)" says how long the whole was. Linear in min(size, max).
std::string printable(const std::string& s, size_t max = 120);
// A word for a POSIX shell: as it is when it holds only safe characters, else single-quoted.
std::string shell_quote(const std::string& s);

// Whole-string parses: nullopt unless the entire text is one valid value.
std::optional<int64_t> parse_int(const std::string& s);
std::optional<double> parse_double(const std::string& s);
std::optional<bool> parse_bool(const std::string& s);  // true/false, 1/0, yes/no, on/off

}  // namespace scouter
