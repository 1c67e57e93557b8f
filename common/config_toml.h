// The TOML side of the config registry, for readers of other TOML layouts (sweep files):
// applying one TOML value to a key with the same strict typing as a config file, and a sweep's
// resources table.
// Private to common/: toml++ is a private dependency of scouter_common (it may be header-only,
// from -DTOMLPLUSPLUS_INCLUDE_DIR), and no file outside common/ may include this header.
#pragma once

#if __has_include(<toml++/toml.hpp>)
#include <toml++/toml.hpp>
#else
#include <toml++/toml.h>
#endif

#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "common/sweep_resources.h"

namespace scouter {

// Sets `key` from `node` (a scalar), as a config file would; `where` ("file.toml:12") names the
// place in errors. UserError for an unknown key (with the nearest valid one), a list, or a
// value of the wrong type.
void apply_toml_value(Config& cfg, const std::string& key, const toml::node& node,
                      const std::string& where, Origins* origins = nullptr);

// A sweep file's own keys (not config keys): a single integer >= lo, a single string; the
// UserError for an unknown name, with the nearest of `valid` (or all of them) as its hint.
int64_t sweep_int(const toml::node& n, const std::string& where, const std::string& key, int64_t lo);
std::string sweep_string(const toml::node& n, const std::string& where, const std::string& key);
UserError unknown_name(const std::string& where, const std::string& what, const std::string& key,
                       const std::vector<std::string>& valid);

// Sets the resources a table ([resources], [runs.NAME.resources]) names onto r (the keys it
// leaves out keep r's values; its mem or mem_per_cpu replaces r's other one). UserError naming
// file:line for an unknown key or a bad value.
void apply_resources(Resources& r, const toml::table& t, const std::string& file);

// The TOML text parsed; a syntax error is a UserError "source:line:column: TOML syntax error: ..."
// with `hint`.
toml::table parse_toml_text(const std::string& text, const std::string& source,
                            const std::string& hint);

// "file.toml:12" for a node, or the file alone when the node has no position.
std::string toml_where(const std::string& file, const toml::node& node);

}  // namespace scouter
