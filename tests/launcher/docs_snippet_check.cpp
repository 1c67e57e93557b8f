#include "launcher/docs_snippet_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <regex>
#include <set>
#include <sstream>

#include "common/config.h"
#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/sweep.h"
#include "launcher/report_reference.h"
#include "common/text.h"
#include "docs_markdown.h"
#include "launcher/cli.h"
#include "launcher/commands.h"
#include "worker/model/backbone_spec.h"

namespace fs = std::filesystem;

namespace scouter::testing {
namespace {

// An option no command takes, appended to every checked command line.
constexpr char kProbe[] = "snippet_probe";

// The project's own top-level folders: a snippet word under one of them names a file of the
// source tree (build/, runs/, data/ are made by running the project, and are not checked).
const std::vector<std::string> kSourceFolders = {"cmake",       "common",   "datasets", "docs",
                                                 "experiments", "launcher", "scripts",  "slurm",
                                                 "tests",       "worker"};

// Programs that start scouter on other ranks or nodes; their options come before scouter's path.
const std::set<std::string> kLaunchers = {"mpirun", "mpiexec", "mpiexec.mpich", "srun",
                                          "time", "env", "nice"};

// Metavariables of the synopses, and the value a check gives them after a command's own option
// (after a config key it gives the key's default). Others (DIR, RUN, FILE) stay as written: no
// command reads a path before it has checked its options.
const std::vector<std::pair<std::string, std::string>> kMetavariables = {
    {"N", "1"}, {"S", "64"}, {"F", "0.5"}, {"TEXT", "x"}, {"C,C,...", "0,1"},
    {"DIR", "DIR"}, {"RUN", "RUN"}, {"FILE", "FILE"}, {"FILE.toml", "FILE.toml"}};

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::string where(const std::string& file, int line) {
  return file + ":" + std::to_string(line) + ": ";
}

// stdout into a file (/dev/null: thrown away) while in-process commands print.
class StdoutTo {
 public:
  explicit StdoutTo(const std::string& path = "/dev/null") {
    std::fflush(stdout);
    saved_ = ::dup(1);
    int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::close(out);
  }
  ~StdoutTo() {
    std::fflush(stdout);
    ::dup2(saved_, 1);
    ::close(saved_);
  }

 private:
  int saved_ = -1;
};

// Lines of a shell script with `\`-continued lines joined; each with its first line number.
std::vector<std::pair<int, std::string>> logical_lines(const std::string& body) {
  std::vector<std::pair<int, std::string>> out;
  std::string pending;
  int first = 0, n = 0;
  for (const std::string& line : markdown::split_lines(body)) {
    ++n;
    if (pending.empty()) first = n;
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    out.emplace_back(first, pending + line);
    pending.clear();
  }
  if (!pending.empty()) out.emplace_back(first, pending);
  return out;
}

bool is_metavariable(const std::string& w) {
  for (const auto& [name, value] : kMetavariables)
    if (w == name) return true;
  return false;
}

// Problems with words that name a file of the source tree that does not exist.
std::vector<std::string> missing_paths(const std::vector<std::string>& words) {
  static const std::regex kPlaceholder(
      R"([<>*?{}$\[\]]|\.\.\.|NNNN|MMMM|(^|/)(NAME|RUN|DIR|FILE|DATASET)\b)");
  std::vector<std::string> problems;
  for (const std::string& w : words) {
    const size_t slash = w.find('/');
    if (slash == std::string::npos || std::regex_search(w, kPlaceholder)) continue;
    const std::string top = w.substr(0, slash);
    if (std::find(kSourceFolders.begin(), kSourceFolders.end(), top) == kSourceFolders.end())
      continue;
    if (!fs::exists(fs::path(source_dir()) / w))
      problems.push_back("'" + w + "' names no file of the source tree");
  }
  return problems;
}

using Lines = std::vector<std::vector<std::string>>;

Lines product(const Lines& a, const Lines& b) {
  Lines out;
  for (const auto& x : a)
    for (const auto& y : b) {
      out.push_back(x);
      out.back().insert(out.back().end(), y.begin(), y.end());
    }
  return out;
}

// tokens[i..] up to the "]" that closes this level (or the end): its alternatives expanded.
Lines expand_level(const std::vector<std::string>& tokens, size_t& i) {
  Lines alternatives, current = {{}};
  while (i < tokens.size()) {
    const std::string t = tokens[i++];
    if (t == "]") break;
    if (t == "|") {
      alternatives.insert(alternatives.end(), current.begin(), current.end());
      current = {{}};
      continue;
    }
    Lines item;
    if (t == "[") {
      item = expand_level(tokens, i);
    } else {
      for (const std::string& part : split(t, '|'))
        if (!part.empty()) item.push_back({part});
    }
    current = product(current, item);
  }
  alternatives.insert(alternatives.end(), current.begin(), current.end());
  return alternatives;
}

// One expanded synopsis line made concrete: `...` and `--key value` dropped, metavariables valued.
std::vector<std::string> concrete(const std::vector<std::string>& words) {
  std::vector<std::string> out;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "...") continue;
    if (w == "--key" && i + 1 < words.size() && words[i + 1] == "value") {
      ++i;
      continue;
    }
    if (!out.empty() && starts_with(out.back(), "--") && is_metavariable(w)) {
      const std::string key = out.back().substr(2);
      if (find_key(key)) {
        std::string v = get_value_literal(Config{}, key);
        if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
        out.push_back(v);
      } else {
        for (const auto& [name, value] : kMetavariables)
          if (w == name) out.push_back(value);
      }
      continue;
    }
    out.push_back(w);
  }
  return out;
}

// A Python call or import in a code span: runnable Python belongs in docs/examples/.
bool looks_like_python(const std::string& text) {
  static const std::regex kCall(
      R"(\b(torch|h5py|np|numpy|json|safetensors)\.[A-Za-z_][\w.]*\(|^\s*(import|from)\s+\w|python3? +-c +\S)");
  return std::regex_search(text, kCall);
}

// `python3 -c CODE` (after VAR=value words): code that needs inputs, so only an example runs it.
bool runs_inline_python(const std::vector<std::string>& words) {
  size_t i = 0;
  while (i < words.size() && words[i].find('=') != std::string::npos) ++i;
  return i + 1 < words.size() && (words[i] == "python3" || words[i] == "python") &&
         words[i + 1] == "-c";
}

bool looks_like_command(const std::vector<std::string>& words) {
  if (words.empty()) return false;
  std::vector<std::string> args;
  const std::string& w = words[0];
  return scouter_arguments(words, args) || w == "python3" || w == "python" || w == "$" ||
         w == "bash" || starts_with(w, "scripts/");
}

}  // namespace

std::vector<std::string> shell_words(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (quote == '"' && c == '\\' && i + 1 < line.size()) {
        word += line[++i];
      } else {
        word += c;
      }
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else if ((c == '#' && !in_word) || c == ';' || c == '|' || c == '&' || c == '>' || c == '<') {
      break;  // a comment or an operator: the command ends
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

bool scouter_arguments(const std::vector<std::string>& words, std::vector<std::string>& args) {
  auto is_scouter = [](const std::string& w) {
    return w == "scouter" || (w.size() > 8 && w.compare(w.size() - 8, 8, "/scouter") == 0);
  };
  size_t i = 0;
  while (i < words.size() && words[i].find('=') != std::string::npos && words[i][0] != '-') ++i;
  if (i == words.size()) return false;
  if (!is_scouter(words[i])) {
    if (!kLaunchers.count(words[i])) return false;
    while (i < words.size() && !is_scouter(words[i])) ++i;
    if (i == words.size()) return false;
  }
  args.assign(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
  return true;
}

std::vector<std::vector<std::string>> expand_synopsis(const std::string& text) {
  std::string plain = text;
  for (size_t p = plain.find("\\|"); p != std::string::npos; p = plain.find("\\|", p))
    plain.erase(p, 1);
  std::vector<std::string> tokens;
  std::istringstream in(plain);
  for (std::string w; in >> w;) {
    size_t a = 0, b = w.size();
    while (a < b && w[a] == '[') tokens.push_back("["), ++a;
    size_t closing = 0;
    while (b > a && w[b - 1] == ']') ++closing, --b;
    if (b > a) tokens.push_back(w.substr(a, b - a));
    tokens.insert(tokens.end(), closing, "]");
  }
  size_t i = 0;
  Lines lines;
  while (i < tokens.size()) {  // a stray "]" ends a level early: go on after it
    Lines part = expand_level(tokens, i);
    lines = lines.empty() ? part : product(lines, part);
  }
  for (auto& l : lines) l = concrete(l);
  return lines;
}

std::string SnippetChecker::config_file(const std::string& path) {
  const fs::path in_tree = fs::path(source_dir()) / path;
  if (fs::exists(in_tree)) return in_tree.string();
  if (fs::path(path).is_absolute() && fs::exists(path)) return path;
  // A config the reader writes (run.toml): an empty file, every key at its default.
  const std::string empty = scratch_.file("config" + std::to_string(files_++) + ".toml");
  write_bytes(empty, "");
  return empty;
}

std::string SnippetChecker::check_command(std::vector<std::string> args, bool bare_name_ok) {
  ++commands_;
  if (args.empty()) return "";  // the program's name
  if (args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    // run_cli answers these itself, before any command.
    std::vector<std::string> words = {"scouter"};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    StdoutTo quiet;
    return run_cli(static_cast<int>(argv.size()), argv.data()) == kExitOk ? "" : "help failed";
  }
  bare_name_ok = bare_name_ok && args.size() == 1;
  std::vector<std::string> words = {"scouter"};
  words.insert(words.end(), args.begin(), args.end());
  words.push_back(std::string("--") + kProbe);
  words.push_back("1");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  try {
    ParsedArgs parsed = parse_args(static_cast<int>(argv.size()), argv.data());
    for (auto& [key, value] : parsed.options)
      if (key == "config") value = config_file(value);
    StdoutTo quiet;
    run_command(parsed);
    return "";  // a command that takes no options (version) ran
  } catch (const UserError& e) {
    const std::string what = e.what();
    if (what.find(kProbe) != std::string::npos) return "";
    if (bare_name_ok && what.find("unknown command") == std::string::npos) return "";
    return what + (e.hint().empty() ? "" : " -- hint: " + e.hint());
  } catch (const std::exception& e) {
    return std::string("not a user error: ") + e.what();
  }
}

std::vector<LineProblem> SnippetChecker::check_sh(const std::string& body, bool example) {
  std::vector<LineProblem> problems;
  const std::string script = scratch_.file("block" + std::to_string(files_++) + ".sh");
  write_bytes(script, body);
  CommandResult syntax = run_command("bash -n " + script);
  if (syntax.exit_code != 0) problems.push_back({0, "bash -n: " + syntax.output});
  for (const auto& [line, text] : logical_lines(body)) {
    const std::vector<std::string> words = shell_words(text);
    for (const std::string& p : missing_paths(words)) problems.push_back({line, p});
    if (!example && runs_inline_python(words))
      problems.push_back({line, "inline Python (-c) is run only from a file of docs/examples/: "
                                "move the block there and include it (docs/testing.md)"});
    std::vector<std::string> args;
    if (!scouter_arguments(words, args)) continue;
    std::string why = check_command(args, false);
    if (!why.empty()) problems.push_back({line, "`" + trim(text) + "`: " + why});
  }
  return problems;
}

std::string SnippetChecker::check_toml(const std::string& body) {
  static const std::regex kSweepTable(R"((^|\n)\s*\[sweep\])");
  const std::string path = scratch_.file("block" + std::to_string(files_++) + ".toml");
  write_bytes(path, body);
  if (std::regex_search(body, kSweepTable)) {
    try {
      // The node size is not checked here, as on a machine where sinfo cannot tell it.
      load_sweep(path, scratch_.file("sweep_runs"), {}, check_table_keys);
      return "";
    } catch (const UserError& e) {
      return std::string("as a sweep file: ") + e.what();
    }
  }
  static const std::regex kEntryTable(R"((^|\n)\s*\[\[entry\]\])");
  if (std::regex_search(body, kEntryTable)) {
    try {
      report_reference_values(path);
      return "";
    } catch (const UserError& e) {
      return std::string("as a reference file: ") + e.what();
    }
  }
  std::string why = check_command({"train", "-c", path}, false);
  return why.empty() ? "" : "as a config: " + why;
}

std::vector<std::string> SnippetChecker::check_span(const std::string& text) {
  std::vector<std::string> problems = missing_paths(split(text, ' '));
  if (looks_like_python(text))
    problems.push_back("Python in a code span: put it in docs/examples/ and include it as a "
                       "```python block (docs/testing.md)");
  std::vector<std::string> as_written;  // a scouter command line at all?
  if (!scouter_arguments(shell_words(text), as_written)) return problems;
  for (const auto& line : expand_synopsis(text)) {
    std::vector<std::string> args;
    if (!scouter_arguments(line, args)) continue;
    std::string why = check_command(args, /*bare_name_ok=*/true);
    if (!why.empty()) problems.push_back("`scouter " + join(args, " ") + "`: " + why);
  }
  return problems;
}

std::string SnippetChecker::command_output(std::vector<std::string> args) {
  // The built binary, not run_command in this process: a test of this executable may register
  // a dataset, backbone or metric of its own, which the binary a reader runs does not have.
  const std::string err = scratch_.file("stderr" + std::to_string(files_++) + ".txt");
  testing::CommandResult r =
      testing::run_command("(" + testing::scouter_bin() + " " + join(args, " ") + " 2>" + err + ")");
  if (r.exit_code != 0) {
    // The error line without its log prefix and hint: "[...] [error] WHAT -- hint: HOW".
    std::string why = read_text_file(err);
    const size_t at = why.find("[error] ");
    if (at != std::string::npos) why = why.substr(at + 8);
    why = why.substr(0, std::min(why.find(" -- hint:"), why.find('\n')));
    throw Error(why.empty() ? str_format("exit status {}", r.exit_code) : why);
  }
  return r.output;
}

std::vector<LineProblem> SnippetChecker::check_generated(const std::string& markdown) {
  static const std::regex kClaim(R"(generated by `scouter)", std::regex::icase);
  static const std::regex kLine(R"(^Generated by `scouter ([^`]+)`:\s*$)");
  const std::vector<std::string> lines = markdown::without_fences(markdown::split_lines(markdown));
  std::vector<LineProblem> problems;
  for (size_t n = 0; n < lines.size(); ++n) {
    std::smatch m;
    if (!std::regex_match(lines[n], m, kLine)) {
      if (std::regex_search(lines[n], kClaim))
        problems.push_back({static_cast<int>(n) + 1,
                            "write \"Generated by `scouter ...`:\" on a line of its own, a blank "
                            "line, then the output, so the test compares them"});
      continue;
    }
    const std::string command = "`scouter " + m[1].str() + "`";
    size_t first = n + 1;
    while (first < lines.size() && markdown::blank(lines[first])) ++first;
    std::vector<std::string> block;
    for (size_t k = first; k < lines.size() && !markdown::blank(lines[k]); ++k)
      block.push_back(lines[k]);
    std::vector<std::string> expected;
    try {
      expected = markdown::split_lines(command_output(split(m[1].str(), ' ')));
    } catch (const std::exception& e) {
      problems.push_back({static_cast<int>(n) + 1, command + " failed: " + e.what()});
      continue;
    }
    if (block == expected) continue;
    size_t d = 0;
    while (d < block.size() && d < expected.size() && block[d] == expected[d]) ++d;
    const std::string page = d < block.size() ? "'" + block[d] + "'" : "nothing";
    const std::string printed = d < expected.size() ? "'" + expected[d] + "'" : "nothing";
    problems.push_back(
        {static_cast<int>(first + d) + 1,
         "not what " + command + " prints (regenerate the block): the page has " + page +
             ", the command prints " + printed});
  }
  return problems;
}

std::vector<std::string> SnippetChecker::check_fence(const std::string& file, int line,
                                                     const std::string& info,
                                                     const std::string& body,
                                                     const std::string& marker) {
  std::vector<LineProblem> problems;  // lines of the block, 0: the opening fence
  if (!marker.empty()) {
    const fs::path included = (fs::path(source_dir()) / file).parent_path() / marker;
    const std::string text = markdown::read_text(included);
    if (!fs::is_regular_file(included))
      problems.push_back({0, "snippet file " + marker + " does not exist"});
    else if (body != text + (text.empty() || text.back() == '\n' ? "" : "\n"))
      problems.push_back({0, "the block differs from " + marker + " (copy the file into it)"});
  }
  if (info == "sh") {
    for (const LineProblem& p : check_sh(body, !marker.empty())) problems.push_back(p);
  } else if (info == "toml") {
    std::string why = check_toml(body);
    if (!why.empty()) problems.push_back({0, why});
  } else if (info == "python") {
    if (marker.empty())
      problems.push_back({0, "a ```python block must show a file of docs/examples/ (a "
                             "<!-- snippet: examples/NAME.py --> line above it), so the test "
                             "runs it"});
  } else if (info.empty() || info == "text" || info == "md") {
    for (const auto& [n, text] : logical_lines(body))
      if (looks_like_command(shell_words(text)))
        problems.push_back({n, "this looks like a command: label the block ```sh so it is "
                               "checked (```text is for output)"});
  } else {
    problems.push_back({0, "```" + info + " blocks are not checked: use sh, toml, python, or "
                           "text (output) or md (Markdown shown as text) (docs/testing.md)"});
  }
  std::vector<std::string> out;
  for (const LineProblem& p : problems) out.push_back(where(file, line + p.line) + p.text);
  return out;
}

std::vector<std::string> SnippetChecker::check_page(const std::string& file,
                                                    const std::string& markdown) {
  std::vector<std::string> problems;
  for (const auto& f : markdown::fenced_blocks(markdown))
    for (const std::string& p : check_fence(file, f.line, f.info, f.body, f.marker))
      problems.push_back(p);
  for (const auto& span : markdown::code_spans(markdown))
    for (const std::string& p : check_span(span.text))
      problems.push_back(where(file, span.line) + p);
  for (const LineProblem& p : check_generated(markdown))
    problems.push_back(where(file, p.line) + p.text);
  return problems;
}

}  // namespace scouter::testing
