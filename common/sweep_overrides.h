// Sweep-level overrides (`scouter sweep FILE --set KEY=VALUE`, and the file's [smoke] table that
// `--smoke true` applies first), applied to the parsed sweep file before it is expanded, so every
// run, its run.toml and its Slurm job see the overridden values. Semantics: docs/sweeps.md,
// "Overrides". Private to common/ (it names toml++ types, see config_toml.h).
#pragma once

#include <string>
#include <vector>

#include "common/config_toml.h"
#include "common/sweep.h"

namespace scouter {

// The keys of a sweep file's [sweep] table.
const std::vector<std::string>& sweep_section_keys();

// Checks the file's [smoke] table (always, so a typo in it fails every expansion), then, with
// overrides.smoke, applies it, then each overrides.sets entry in order. UserError naming the
// --set argument or the file's line: an unknown key (with the nearest valid one), a value of the
// wrong type, a key the sweep sets itself, a --set without '=', --smoke on a file without [smoke].
void apply_sweep_overrides(toml::table& doc, const SweepOverrides& overrides,
                           const std::string& path);

}  // namespace scouter
