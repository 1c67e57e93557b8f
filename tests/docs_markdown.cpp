#include "docs_markdown.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "test_util.h"

namespace fs = std::filesystem;

namespace scouter::testing::markdown {
namespace {

// A fence line's character run: its position and length (0: not a run of ` or ~).
struct Run {
  size_t at = 0, length = 0;
};

Run fence_run(const std::string& line) {
  Run r;
  r.at = line.find_first_not_of(" \t");
  if (r.at == std::string::npos || (line[r.at] != '`' && line[r.at] != '~')) return {};
  while (r.at + r.length < line.size() && line[r.at + r.length] == line[r.at]) ++r.length;
  return r;
}

// Calls on_block(first, last, closed) for the line indices of each fenced block: first is the
// opening fence, last the closing one (closed) or the last line when the file ends inside it.
template <typename F>
void scan_fences(const std::vector<std::string>& lines, F on_block) {
  char fence = 0;
  size_t fence_len = 0, first = 0;
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string& line = lines[n];
    Run r = fence_run(line);
    if (fence == 0) {
      // A backtick fence's info string may not contain a backtick (that is a code span).
      if (r.length >= 3 &&
          !(line[r.at] == '`' && line.find('`', r.at + r.length) != std::string::npos)) {
        fence = line[r.at];
        fence_len = r.length;
        first = n;
      }
    } else if (r.length >= fence_len && line[r.at] == fence && blank(line.substr(r.at + r.length))) {
      on_block(first, n, true);
      fence = 0;
    }
  }
  if (fence != 0) on_block(first, lines.size() - 1, false);
}

struct SpanRange {
  size_t begin = 0, end = 0;  // the opening run's first backtick; just after the closing run
  size_t ticks = 0;
};

std::vector<SpanRange> span_ranges(const std::string& text) {
  std::vector<SpanRange> spans;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '`') {
      ++i;
      continue;
    }
    size_t n = 0;
    while (i + n < text.size() && text[i + n] == '`') ++n;
    size_t end = std::string::npos;
    for (size_t j = i + n; j < text.size();) {
      if (text[j] == '\n') {
        size_t k = j + 1;
        while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
        if (k >= text.size() || text[k] == '\n') break;  // blank line: the paragraph ends
        j = k;
        continue;
      }
      if (text[j] != '`') {
        ++j;
        continue;
      }
      size_t m = 0;
      while (j + m < text.size() && text[j + m] == '`') ++m;
      if (m == n) {
        end = j;
        break;
      }
      j += m;
    }
    if (end == std::string::npos) {
      i += n;
      continue;
    }
    spans.push_back({i, end + n, n});
    i = end + n;
  }
  return spans;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string joined;
  for (const std::string& line : lines) joined += line + "\n";
  return joined;
}

}  // namespace

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t'; });
}

std::vector<std::string> doc_files() {
  const fs::path root = source_dir();
  std::vector<std::string> files = {"README.md"};
  std::vector<std::string> docs;
  if (fs::is_directory(root / "docs"))
    for (const auto& e : fs::recursive_directory_iterator(root / "docs"))
      if (e.is_regular_file() && e.path().extension() == ".md")
        docs.push_back(fs::relative(e.path(), root).generic_string());
  std::sort(docs.begin(), docs.end());
  files.insert(files.end(), docs.begin(), docs.end());
  return files;
}

std::vector<Fence> fenced_blocks(const std::string& markdown) {
  static const std::regex kMarker(R"(^\s*<!--\s*snippet:\s*(\S+)\s*-->\s*$)");
  const std::vector<std::string> lines = split_lines(markdown);
  std::vector<Fence> blocks;
  scan_fences(lines, [&](size_t first, size_t last, bool closed) {
    Fence f;
    f.line = static_cast<int>(first) + 1;
    const std::string& open = lines[first];
    Run r = fence_run(open);
    std::istringstream info(open.substr(r.at + r.length));
    info >> f.info;
    // Content lines lose up to the opening fence's indentation (CommonMark).
    for (size_t n = first + 1; n < (closed ? last : last + 1); ++n) {
      std::string line = lines[n];
      size_t cut = 0;
      while (cut < r.at && cut < line.size() && line[cut] == ' ') ++cut;
      f.body += line.substr(cut) + "\n";
    }
    std::smatch m;
    if (first > 0 && std::regex_match(lines[first - 1], m, kMarker)) f.marker = m[1].str();
    blocks.push_back(f);
  });
  return blocks;
}

std::vector<std::string> without_fences(const std::vector<std::string>& lines) {
  std::vector<std::string> out = lines;
  scan_fences(lines, [&](size_t first, size_t last, bool) {
    for (size_t n = first; n <= last; ++n) out[n] = std::string(lines[n].size(), ' ');
  });
  return out;
}

std::string without_code_spans(const std::string& text) {
  std::string out = text;
  for (const SpanRange& s : span_ranges(text))
    for (size_t k = s.begin; k < s.end; ++k)
      if (out[k] != '\n') out[k] = ' ';
  return out;
}

std::vector<CodeSpan> code_spans(const std::string& markdown) {
  const std::string text = join_lines(without_fences(split_lines(markdown)));
  std::vector<CodeSpan> spans;
  for (const SpanRange& s : span_ranges(text)) {
    std::string content = text.substr(s.begin + s.ticks, s.end - s.begin - 2 * s.ticks);
    std::replace(content.begin(), content.end(), '\n', ' ');
    if (content.size() >= 2 && content.front() == ' ' && content.back() == ' ' && !blank(content))
      content = content.substr(1, content.size() - 2);
    CodeSpan span;
    span.line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + s.begin, '\n'));
    span.text = content;
    spans.push_back(span);
  }
  return spans;
}

std::vector<InternalReference> internal_references(const std::string& text) {
  // The pattern (ECMAScript, case-insensitive) and why a reader cannot follow it.
  static const std::vector<std::pair<std::regex, std::string>> kPhrases = [] {
    const std::vector<std::pair<std::string, std::string>> list = {
        {R"(\bissues? +#?[0-9]+)",
         "the project's issue tracker is not part of the repository: say what was found (and "
         "cite the commit)"},
        {R"(\bissue notes?\b)", "the issue notes are not part of the repository"},
        {R"(\b(development|dev) (VM|machine)\b)",
         "name the machine: cores, CPU, OS and the date (docs/speed.md, \"Machines\")"},
        {R"(\bthe GPU machine\b)",
         "name the GPU and the software: \"an NVIDIA H100 machine with PyTorch 2.11\" "
         "(docs/speed.md, \"Machines\")"},
        {R"(\bthe CI machine\b)",
         "CI runs .ci/run on whatever fresh machine runs it: say what that machine has or lacks"},
        {R"(\b(next|this|last|a later) session\b)",
         "a developer's working session is nothing the reader has"},
        {R"((\.\./)+shared/)", "a folder beside the developers' checkout, not in the repository"},
        {R"(\bREFERENCE( section|\.md| §))",
         "the developers' notes on the paper are not in the repository: cite docs/model.md or the "
         "paper (Li et al., ICCV 2021)"}};
    std::vector<std::pair<std::regex, std::string>> compiled;
    for (const auto& [pattern, why] : list)
      compiled.emplace_back(std::regex(pattern, std::regex::ECMAScript | std::regex::icase), why);
    return compiled;
  }();
  std::vector<InternalReference> hits;
  const std::vector<std::string> lines = split_lines(text);
  for (size_t n = 0; n < lines.size(); ++n)
    for (const auto& [pattern, why] : kPhrases)
      for (std::sregex_iterator m(lines[n].begin(), lines[n].end(), pattern), end; m != end; ++m)
        hits.push_back({static_cast<int>(n) + 1, m->str(), why});
  return hits;
}

}  // namespace scouter::testing::markdown
