// Checks the code snippets of one Markdown page against the real program (docs/testing.md,
// "Documentation snippets", is the user's guide; docs_snippets_test.cpp runs it on every page):
//  - a fenced block under a `<!-- snippet: PATH -->` line (PATH relative to the page, as links
//    are) must equal that file byte for byte; the files under docs/examples/ are run elsewhere;
//  - ```sh: `bash -n` accepts the block, and every `scouter ...` command line in it (also behind
//    mpirun / mpiexec / srun and their options, or VAR=value words) is accepted by the real CLI;
//    `python3 -c` only in a block that shows a file of docs/examples/ (the file is run);
//  - `scouter ...` code spans likewise, usage synopses included ([optional] parts, A|B, `...`,
//    metavariables such as N and DIR);
//  - ```toml: a sweep file (it has [sweep]) loads with load_sweep; anything else is a config
//    that `scouter train -c FILE` loads;
//  - ```python only as an included file; a code span with Python calls is refused;
//  - ```text (or unlabelled, or md) is output, a diagram or Markdown shown as text, never run: one
//    that holds a command line is refused (label it sh); any other label is refused (nobody
//    checks it);
//  - a word that names a file in one of the project's folders (scripts/..., experiments/...)
//    names an existing one.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace scouter::testing {

// A problem on a line of a fenced block (0: its opening fence).
struct LineProblem {
  int line = 0;
  std::string text;
};

class SnippetChecker {
 public:
  // Problems of one page as "FILE:LINE: what", empty when every snippet holds. `file` is the
  // page's path relative to the source root (markers resolve against it).
  std::vector<std::string> check_page(const std::string& file, const std::string& markdown);
  // `scouter` command lines checked so far (synopsis expansions count one each).
  int commands_checked() const { return commands_; }

  // "" when the real CLI accepts `scouter <args>` up to an option it cannot know (appended
  // last): the first error it raises names that option, so everything before it was accepted.
  // A bare command name (`scouter prep` in prose) only has to be a command.
  std::string check_command(std::vector<std::string> args, bool bare_name_ok);

 private:
  std::vector<std::string> check_fence(const std::string& file, int line, const std::string& info,
                                       const std::string& body, const std::string& marker);
  // example: the block shows a file of docs/examples/, which the examples test runs.
  std::vector<LineProblem> check_sh(const std::string& body, bool example);
  std::string check_toml(const std::string& body);
  std::vector<std::string> check_span(const std::string& text);
  std::string config_file(const std::string& path);

  TempDir scratch_;
  int files_ = 0;
  int commands_ = 0;
};

// The words of one shell command line (quotes removed; up to a comment or an operator such as
// `;`, `|`, `&&`, `>`), and the line's words from `scouter`'s first argument on, if it runs
// scouter (also behind mpirun / mpiexec / srun and their options, or VAR=value words).
std::vector<std::string> shell_words(const std::string& line);
bool scouter_arguments(const std::vector<std::string>& words, std::vector<std::string>& args);

// A usage synopsis as concrete command lines: [optional] parts included, each alternative of A|B
// (one word) or [X | Y] on a line of its own, `...` and the generic `--key value` dropped, and
// metavariables after an option (N, DIR, ...) given a value of their kind.
std::vector<std::vector<std::string>> expand_synopsis(const std::string& text);

}  // namespace scouter::testing
