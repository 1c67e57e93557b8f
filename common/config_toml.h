// The TOML side of the config registry, for readers of other TOML layouts (sweep files):
// applying one TOML value to a key with the same strict typing as a config file.
// Private to common/: toml++ is a private dependency of scouter_common (it may be header-only,
// from -DTOMLPLUSPLUS_INCLUDE_DIR), and no file outside common/ may include this header.
#pragma once

#if __has_include(<toml++/toml.hpp>)
#include <toml++/toml.hpp>
#else
#include <toml++/toml.h>
#endif

#include <string>

#include "common/config.h"

namespace scouter {

// Sets `key` from `node` (a scalar), as a config file would; `where` ("file.toml:12") names the
// place in errors. UserError for an unknown key (with the nearest valid one), a list, or a
// value of the wrong type.
void apply_toml_value(Config& cfg, const std::string& key, const toml::node& node,
                      const std::string& where, Origins* origins = nullptr);

// "file.toml:12" for a node, or the file alone when the node has no position.
std::string toml_where(const std::string& file, const toml::node& node);

}  // namespace scouter
