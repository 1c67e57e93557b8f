#include "common/env_paths.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include "common/error.h"
#include "common/text.h"

namespace scouter {
namespace {

std::string host_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

const char* kHint = "set it where the rank runs (e.g. `export NAME=...` in a sweep's setup), give "
                    "a default as ${NAME:-/tmp}, or write $$ for a literal $";

class Expander {
 public:
  Expander(const std::string& what, const std::string& whole, const EnvLookup& lookup)
      : what_(what), whole_(whole), lookup_(lookup) {}

  std::string run(const std::string& text) const {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '$') {
        out += text[i];
      } else if (i + 1 < text.size() && text[i + 1] == '$') {
        out += '$';
        ++i;
      } else if (i + 1 < text.size() && text[i + 1] == '{') {
        size_t end = closing_brace(text, i + 2);
        out += braced(text.substr(i + 2, end - i - 2));
        i = end;
      } else if (i + 1 < text.size() && name_start(text[i + 1])) {
        size_t end = i + 1;
        while (end < text.size() && name_char(text[end])) ++end;
        out += value(text.substr(i + 1, end - i - 1), nullptr);
        i = end - 1;
      } else {
        fail(fmt::format("a lone '$' at character {}", i + 1), "write $$ for a literal $, $NAME or ${NAME} for a variable");
      }
    }
    return out;
  }

 private:
  // The '}' that closes a "${" whose contents start at `from` (a default may hold ${...} too).
  size_t closing_brace(const std::string& text, size_t from) const {
    int depth = 1;
    for (size_t j = from; j < text.size(); ++j) {
      if (text[j] == '$' && j + 1 < text.size() && text[j + 1] == '{') ++depth, ++j;
      else if (text[j] == '}' && --depth == 0) return j;
    }
    fail("a '${' without its '}'", "write ${NAME} or ${NAME:-default}");
  }

  // NAME or NAME:-default.
  std::string braced(const std::string& inner) const {
    size_t n = 0;
    while (n < inner.size() && name_char(inner[n])) ++n;
    if (n == 0 || !name_start(inner[0]) || (n < inner.size() && inner.compare(n, 2, ":-") != 0))
      fail(fmt::format("'${{{}}}' is not a variable", inner),
           "write ${NAME} or ${NAME:-default} (NAME: letters, digits, '_')");
    std::string name = inner.substr(0, n);
    if (n == inner.size()) return value(name, nullptr);
    std::string fallback = run(inner.substr(n + 2));
    return value(name, &fallback);
  }

  std::string value(const std::string& name, const std::string* fallback) const {
    const char* v = lookup_ ? lookup_(name) : std::getenv(name.c_str());
    if (v && *v) return v;
    if (fallback) return *fallback;
    throw UserError(fmt::format("{}: environment variable {} is {} on {} (in \"{}\")", what_, name,
                                v ? "empty" : "not set", host_name(), whole_),
                    kHint);
  }

  [[noreturn]] void fail(const std::string& problem, const std::string& hint) const {
    throw UserError(fmt::format("{}: {} in \"{}\"", what_, problem, whole_), hint);
  }

  const std::string& what_;
  const std::string& whole_;
  const EnvLookup& lookup_;
};

}  // namespace

const std::vector<std::string>& env_path_keys() {
  static const std::vector<std::string> keys = {"dataset_dir", "output_dir", "stage_dir"};
  return keys;
}

std::string expand_env(const std::string& text, const std::string& what, const EnvLookup& lookup) {
  if (text.find('$') == std::string::npos) return text;
  return Expander(what, text, lookup).run(text);
}

void expand_env_paths(Config& cfg, const Origins& origins, const std::vector<std::string>& keys,
                      const EnvLookup& lookup) {
  for (const auto& key : keys) {
    std::string* member = key == "dataset_dir" ? &cfg.dataset_dir
                          : key == "output_dir" ? &cfg.output_dir
                          : key == "stage_dir"  ? &cfg.stage_dir
                                                : nullptr;
    SCOUTER_CHECK(member != nullptr, "not a path key: " + key);
    if (member->find('$') == std::string::npos) continue;
    auto it = origins.find(key);
    std::string where = it == origins.end() ? std::string("default") : it->second;
    where = starts_with(where, "--") ? "command line: " + where : where + ": " + key;
    std::string written = *member;
    *member = expand_env(written, where, lookup);
    cfg.as_written[key] = written;
    cfg.expanded_on = host_name();
  }
}

}  // namespace scouter
