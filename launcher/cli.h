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
  bool help = false;         // `--help` or `-h` after the command: nothing else is parsed
};

// `--key value`, `--key=value`, `-c FILE` (= --config FILE). A boolean config key or a command's
// own true/false option (is_command_flag) may stand alone: `--all` is `--all true`; a following
// word that is not true/false (1/0, yes/no, on/off) stays a positional argument. Throws UserError
// on any other `--key` without a value.
ParsedArgs parse_args(int argc, char** argv);

int run_cli(int argc, char** argv);

// Every command (`scouter help`), and one command's forms with the same text ("" for an unknown
// command: `scouter COMMAND --help`, `scouter help COMMAND`).
std::string usage();
std::string command_usage(const std::string& command);

}  // namespace scouter
