// The subcommands of `scouter`, each a thin layer from parsed arguments to the libraries.
#pragma once

#include <string>

#include "common/config.h"
#include "launcher/cli.h"

namespace scouter {

// Dispatches args.command; returns the exit status. UserError for an unknown command.
int run_command(const ParsedArgs& args);

// Defaults, then --config FILE, then every other --key value in order. Options named in
// `extra` are returned in extra_values instead of being config keys.
Config config_from_args(const ParsedArgs& args, Origins& origins);

}  // namespace scouter
