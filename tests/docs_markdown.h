// The project's Markdown as the documentation tests read it (docs_links_test, docs_snippets_test):
// which lines are fenced code blocks, where the code spans are, as CommonMark (and GitHub) pair
// them, so both tests agree on what is code.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace scouter::testing::markdown {

std::string read_text(const std::filesystem::path& path);  // "" when unreadable
std::vector<std::string> split_lines(const std::string& text);  // without "\n" or "\r\n"
bool blank(const std::string& s);                               // only spaces and tabs

// README.md and every Markdown file under docs/, relative to the source root.
std::vector<std::string> doc_files();

// A fenced code block (``` or ~~~, closed by a fence of the same character at least as long, or
// by the end of the file).
struct Fence {
  int line = 0;        // 1-based line of the opening fence
  std::string info;    // the info string's first word: "sh", "toml", "python", "" ...
  std::string body;    // the lines between the fences, each ending in "\n"
  std::string marker;  // PATH of a `<!-- snippet: PATH -->` line just above the fence, or ""
};
std::vector<Fence> fenced_blocks(const std::string& markdown);

// The lines with fenced code blocks blanked, so neither links nor headings are found in them.
// Offsets keep.
std::vector<std::string> without_fences(const std::vector<std::string>& lines);

// `code spans` blanked out (newlines kept), as CommonMark pairs them: a run of n backticks up to
// the next run of exactly n, within one paragraph. An unpaired run stays literal text.
std::string without_code_spans(const std::string& text);

// The code spans outside fenced blocks, with their content as rendered (line breaks as spaces,
// one space stripped from each end when both ends have one).
struct CodeSpan {
  int line = 0;  // 1-based line of the opening backticks
  std::string text;
};
std::vector<CodeSpan> code_spans(const std::string& markdown);

// Phrases that point at what only the project's developers have (their issue tracker and notes,
// their machines and sessions, their notes on the paper): a reader of the repository's pages,
// sweep files, scripts, source comments or `scouter help` cannot look them up. Each hit with the
// reason and what to write instead.
struct InternalReference {
  int line = 0;        // 1-based
  std::string phrase;  // as written
  std::string why;
};
std::vector<InternalReference> internal_references(const std::string& text);

}  // namespace scouter::testing::markdown
