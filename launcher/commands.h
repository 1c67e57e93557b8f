// The subcommands of `scouter`, each a thin layer from parsed arguments to the libraries.
#pragma once

#include <string>

#include "common/config.h"
#include "launcher/cli.h"

namespace scouter {

// Dispatches args.command (with args.help: prints the command's usage); returns the exit status.
// UserError for an unknown command.
int run_command(const ParsedArgs& args);

// Whether `key` is one of `command`'s own true/false options (`explain --all`, `report --html`):
// parse_args takes them, and every boolean config key, without a value.
bool is_command_flag(const std::string& command, const std::string& key);
// Whether `command` takes `key` several times (`sweep --set`); parse_args refuses other repeats.
bool is_repeatable_option(const std::string& command, const std::string& key);

// Defaults, then --config FILE, then every other --key value in order. Options named in
// `extra` are returned in extra_values instead of being config keys.
Config config_from_args(const ParsedArgs& args, Origins& origins);

}  // namespace scouter
