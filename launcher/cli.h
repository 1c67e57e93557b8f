// The `scouter` command line: parses `scouter <command> [args] [--key value ...]`, dispatches to
// the commands, and is the one place that turns errors into a log line and an exit status
// (0 ok, 1 failure, 2 bad input; see README "Exit status").
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace scouter {

struct ParsedArgs {
  std::string command;
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;  // in command-line order
  std::string command_line;  // argv joined, shell-quoted
};

// `--key value`, `--key=value`, `-c FILE` (= --config FILE). Throws UserError on a dangling
// `--key` without a value.
ParsedArgs parse_args(int argc, char** argv);

int run_cli(int argc, char** argv);

std::string usage();

}  // namespace scouter
