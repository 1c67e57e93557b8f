// The documentation's links hold: every relative Markdown link in README.md and docs/*.md
// ([text](path), [text](path#anchor), [text](#anchor), ![alt](path), [ref]: path) points at an
// existing file or folder, relative to the linking file, and an anchor into a Markdown page names
// one of its headings as GitHub derives anchors from them. Links to other sites (http://,
// https://, mailto:) and anything inside fenced code blocks or `code spans` are not links here.
// Also: README links every docs page, and every docs page links back to README; no link leaves
// the repository. Files named in text and internal references: docs_files_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "docs_markdown.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

using namespace testing::markdown;

struct Link {
  int line = 0;        // 1-based line of the link's `](` in its file
  std::string text;    // [text]
  std::string target;  // (target), without a title
};

// Markdown text with fences and code spans blanked, line numbers unchanged.
std::string linkable_text(const std::string& markdown) {
  std::string joined;
  for (const std::string& line : without_fences(split_lines(markdown))) joined += line + "\n";
  return without_code_spans(joined);
}

// The Markdown as linkable_text sees it, unmasked: the same offsets, for quoting link texts.
std::string plain_text(const std::string& markdown) {
  std::string joined;
  for (const std::string& line : split_lines(markdown)) joined += line + "\n";
  return joined;
}

// Inline links and images, then reference definitions.
std::vector<Link> find_links(const std::string& markdown) {
  const std::string text = linkable_text(markdown), plain = plain_text(markdown);
  std::vector<Link> links;
  for (size_t i = text.find("]("); i != std::string::npos; i = text.find("](", i + 1)) {
    // The [ that opens this ], allowing nested brackets; none: not a link.
    int depth = 0;
    size_t open = std::string::npos;
    for (size_t k = i; k-- > 0;) {
      if (text[k] == ']') ++depth;
      if (text[k] == '[') {
        if (depth == 0) {
          open = k;
          break;
        }
        --depth;
      }
      if (text[k] == '\n' && k > 0 && text[k - 1] == '\n') break;
    }
    if (open == std::string::npos) continue;
    size_t j = i + 2;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\n')) ++j;
    std::string target;
    if (j < text.size() && text[j] == '<') {
      size_t close = text.find('>', j);
      if (close == std::string::npos) continue;
      target = text.substr(j + 1, close - j - 1);
    } else {
      int parens = 0;
      for (; j < text.size(); ++j) {
        char c = text[j];
        if (c == ' ' || c == '\n' || c == '\t') break;
        if (c == '(') ++parens;
        if (c == ')') {
          if (parens == 0) break;
          --parens;
        }
        target += c;
      }
    }
    Link link;
    link.line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + i, '\n'));
    link.text = plain.substr(open + 1, i - open - 1);
    link.target = target;
    links.push_back(link);
  }
  // [ref]: target
  std::vector<std::string> lines = split_lines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string& l = lines[n];
    size_t s = l.find_first_not_of(' ');
    if (s == std::string::npos || s > 3 || l[s] != '[') continue;
    size_t close = l.find(']', s);
    if (close == std::string::npos || close + 1 >= l.size() || l[close + 1] != ':' ||
        l[s + 1] == '^')
      continue;
    std::istringstream rest(l.substr(close + 2));
    Link link;
    rest >> link.target;
    if (link.target.empty()) continue;
    if (link.target.front() == '<' && link.target.back() == '>')
      link.target = link.target.substr(1, link.target.size() - 2);
    link.line = static_cast<int>(n) + 1;
    link.text = l.substr(s + 1, close - s - 1);
    links.push_back(link);
  }
  return links;
}

// --- GitHub's heading anchors (github-slugger, which github.com follows) ---

std::vector<uint32_t> utf8_decode(const std::string& s) {
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len && i + k < s.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    cps.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return cps;
}

std::string utf8_encode(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// Lower case for the scripts a heading here may use: ASCII, Latin-1, Latin Extended-A, Greek,
// Cyrillic (what JavaScript's toLowerCase does for them).
uint32_t to_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return (c % 2 == 0) ? c + 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 1) ? c + 1 : c;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

// github-slugger removes every character that is not a letter, a mark, a number of the decimal
// kind, '_', '-' or a space. ASCII and Latin-1 exactly as its expression; beyond them the
// punctuation and symbol blocks (other code points count as letters, right for every script).
bool removed(uint32_t c) {
  if (c < 0x80) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == ' ';
    return !keep;
  }
  if (c <= 0xBF) return !(c == 0xAA || c == 0xB5 || c == 0xBA);
  if (c == 0xD7 || c == 0xF7) return true;
  static const std::vector<std::pair<uint32_t, uint32_t>>
      kRanges =
          {{0x02C2, 0x02C5},  {0x02D2, 0x02DF}, {0x02E5, 0x02EB}, {0x02ED, 0x02ED},
           {0x02EF, 0x02FF},  {0x0375, 0x0375}, {0x037E, 0x037E}, {0x0384, 0x0385},
           {0x0387, 0x0387},  {0x03F6, 0x03F6}, {0x0482, 0x0482}, {0x055A, 0x055F},
           {0x0589, 0x058A},  {0x2000, 0x206F},  // general punctuation, spaces, invisible operators
           {0x2070, 0x209F},                     // super- and subscripts
           {0x20A0, 0x20CF},                     // currency
           {0x2100, 0x214F},                     // letterlike symbols
           {0x2150, 0x215F},                     // vulgar fractions
           {0x2190, 0x2BFF},  // arrows, math operators (− ± ×), technical, shapes, dingbats, ...
           {0x2E00, 0x2E7F},  {0x3000, 0x3004}, {0x3008, 0x3020}, {0x3030, 0x3030},
           {0xFE10, 0xFE1F},  {0xFE30, 0xFE6F}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF20},
           {0xFF3B, 0xFF3E},  {0xFF40, 0xFF40}, {0xFF5B, 0xFF65}, {0xFFE0, 0xFFEF},
           {0x1F000, 0x1FAFF}};  // emoji and pictographs
  for (const auto& [lo, hi] : kRanges)
    if (c >= lo && c <= hi) return true;
  return false;
}

// The anchor GitHub gives a heading whose rendered text is `text` (before de-duplication).
std::string github_slug(const std::string& text) {
  std::string slug;
  for (uint32_t c : utf8_decode(text)) {
    if (removed(c)) continue;
    c = to_lower(c);
    slug += c == ' ' ? std::string("-") : utf8_encode(c);
  }
  return slug;
}

// github-slugger's de-duplication: the second "x" becomes "x-1", the third "x-2", skipping
// anchors already taken.
class Slugger {
 public:
  std::string slug(const std::string& text) {
    const std::string base = github_slug(text);
    std::string result = base;
    while (occurrences_.count(result)) result = base + "-" + std::to_string(++occurrences_[base]);
    occurrences_[result] = 0;
    return result;
  }

 private:
  std::map<std::string, int> occurrences_;
};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

// A heading's source as the text it renders to: links and images by their text, HTML tags
// dropped, backslash escapes resolved. (Backticks and emphasis stars go with the punctuation.)
std::string rendered_heading(std::string s) {
  for (size_t i = s.find("]("); i != std::string::npos; i = s.find("](")) {
    size_t open = s.rfind('[', i);
    size_t close = s.find(')', i);
    if (open == std::string::npos || close == std::string::npos) break;
    if (open > 0 && s[open - 1] == '!') --open;
    size_t text_start = s[open] == '!' ? open + 2 : open + 1;
    s = s.substr(0, open) + s.substr(text_start, i - text_start) + s.substr(close + 1);
  }
  std::string out;
  bool in_tag = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() &&
        (std::isalpha(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '/')) {
      in_tag = true;
      continue;
    }
    if (in_tag) {
      if (s[i] == '>') in_tag = false;
      continue;
    }
    if (s[i] == '\\' && i + 1 < s.size() && std::ispunct(static_cast<unsigned char>(s[i + 1])))
      continue;
    out += s[i];
  }
  return trim(out);
}

// Every anchor of a Markdown file: its ATX (#) and setext (=== / ---) headings outside fenced
// code, de-duplicated as GitHub does, plus explicit <a name="..."> / id="..." anchors.
std::set<std::string> anchors_of(const std::string& markdown) {
  const std::vector<std::string> lines = without_fences(split_lines(markdown));
  Slugger slugger;
  std::set<std::string> anchors;
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string& l = lines[n];
    size_t s = l.find_first_not_of(' ');
    if (s != std::string::npos && s <= 3 && l[s] == '#') {
      size_t level = 0;
      while (s + level < l.size() && l[s + level] == '#') ++level;
      if (level <= 6 && (s + level == l.size() || l[s + level] == ' ' || l[s + level] == '\t')) {
        std::string text = trim(l.substr(s + level));
        size_t hashes = text.find_last_not_of('#');  // closing sequence " ##"
        if (hashes == std::string::npos) {
          text.clear();
        } else if (hashes + 1 < text.size() && (text[hashes] == ' ' || text[hashes] == '\t')) {
          text = trim(text.substr(0, hashes));
        }
        anchors.insert(slugger.slug(rendered_heading(text)));
        continue;
      }
    }
    // Setext: a paragraph (not a table, list, quote or HTML line) underlined by === or ---.
    if (n + 1 < lines.size() && !blank(l)) {
      std::string next = trim(lines[n + 1]);
      bool underline = !next.empty() && (next.find_first_not_of('=') == std::string::npos ||
                                         next.find_first_not_of('-') == std::string::npos);
      char first = l[l.find_first_not_of(" \t")];
      bool paragraph = first != '|' && first != '>' && first != '-' && first != '*' &&
                       first != '+' && first != '<' &&
                       !std::isdigit(static_cast<unsigned char>(first));
      if (underline && paragraph) {
        size_t start = n;
        while (start > 0 && !blank(lines[start - 1])) --start;
        std::string text;
        for (size_t k = start; k <= n; ++k) text += (k > start ? " " : "") + trim(lines[k]);
        anchors.insert(slugger.slug(rendered_heading(text)));
        ++n;
        continue;
      }
    }
  }
  for (const std::string attr : {"name=\"", "id=\""}) {
    for (size_t i = markdown.find(attr); i != std::string::npos; i = markdown.find(attr, i + 1)) {
      if (i > 0 && std::isalnum(static_cast<unsigned char>(markdown[i - 1]))) continue;
      size_t end = markdown.find('"', i + attr.size());
      if (end != std::string::npos)
        anchors.insert(markdown.substr(i + attr.size(), end - i - attr.size()));
    }
  }
  return anchors;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool external(const std::string& target) {
  static const std::vector<std::string> kSchemes = {"http://", "https://", "mailto:", "ftp://"};
  for (const auto& p : kSchemes)
    if (target.compare(0, p.size(), p) == 0) return true;
  return false;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

const fs::path& root() {
  static const fs::path r = fs::path(testing::source_dir());
  return r;
}

// "" when `link` in `file` (relative to root) resolves; else why not.
std::string check_link(const std::string& file, const Link& link,
                       std::map<std::string, std::set<std::string>>& anchor_cache) {
  if (link.target.empty()) return "empty target";
  std::string target = link.target;
  std::string anchor;
  size_t hash = target.find('#');
  if (hash != std::string::npos) {
    anchor = percent_decode(target.substr(hash + 1));
    target = target.substr(0, hash);
  }
  size_t query = target.find('?');
  if (query != std::string::npos) target = target.substr(0, query);
  target = percent_decode(target);
  fs::path resolved;
  if (target.empty())
    resolved = root() / file;
  else if (target[0] == '/')
    resolved = root() / target.substr(1);
  else
    resolved = (root() / file).parent_path() / target;
  resolved = resolved.lexically_normal();
  std::string shown = fs::relative(resolved, root()).generic_string();
  if (shown == ".." || shown.compare(0, 3, "../") == 0)
    return "leaves the repository (" + shown + "): a reader of the repository has no such file";
  if (!fs::exists(resolved)) return "no such file or folder: " + shown;
  if (anchor.empty() || !ends_with(resolved.string(), ".md") || !fs::is_regular_file(resolved))
    return "";
  auto it = anchor_cache.find(resolved.string());
  if (it == anchor_cache.end())
    it = anchor_cache.emplace(resolved.string(), anchors_of(read_text(resolved))).first;
  if (it->second.count(anchor)) return "";
  std::string known;
  for (const auto& a : it->second) known += (known.empty() ? "" : ", ") + a;
  return "no heading #" + anchor + " in " + shown + " (its anchors: " + known + ")";
}

TEST(DocsAnchors, FollowGitHubsRule) {
  EXPECT_EQ(github_slug("Run folder (`output_dir`)"), "run-folder-output_dir");
  EXPECT_EQ(github_slug("GPU: building and running on CUDA"), "gpu-building-and-running-on-cuda");
  EXPECT_EQ(github_slug("Known behaviour of the published model: dead slots"),
            "known-behaviour-of-the-published-model-dead-slots");
  EXPECT_EQ(github_slug("Mean ± std, C++ & Python"), "mean--std-c--python");
  EXPECT_EQ(github_slug("SCOUTER− (why not) vs. SCOUTER+"), "scouter-why-not-vs-scouter");
  EXPECT_EQ(github_slug("Café Über ΣΑ 1.2"), "café-über-σα-12");
  EXPECT_EQ(github_slug("snake_case and kebab-case"), "snake_case-and-kebab-case");
  EXPECT_EQ(rendered_heading("Attention pictures (`scouter vis`, [more](x.md#y))"),
            "Attention pictures (`scouter vis`, more)");

  Slugger s;
  EXPECT_EQ(s.slug("Usage"), "usage");
  EXPECT_EQ(s.slug("Usage"), "usage-1");
  EXPECT_EQ(s.slug("usage-1"), "usage-1-1");
  EXPECT_EQ(s.slug("Usage"), "usage-2");

  std::set<std::string> a = anchors_of(
      "# Title\n\n## Setup ##\n\n```sh\n# not a heading\n```\n\nOther title\n---\n\n## Setup\n"
      "<a name=\"custom\"></a>\n");
  EXPECT_EQ(a, (std::set<std::string>{"title", "setup", "setup-1", "other-title", "custom"}));
}

TEST(DocsLinks, CodeIsNotALink) {
  std::vector<Link> links = find_links(
      "See [one](a.md) and `[two](b.md)` and ``x`[three](c.md)`x``.\n"
      "```md\n[four](d.md)\n```\n"
      "~~~\n[five](e.md)\n~~~\n"
      "![six](img/f.png \"title\") [seven [nested]](g.md#h) x [0, 1] (not a link)\n"
      "[ref]: refs/i.md\n");
  std::vector<std::string> got;
  for (const auto& l : links)
    got.push_back(l.text + "->" + l.target + "@" + std::to_string(l.line));
  EXPECT_EQ(got, (std::vector<std::string>{"one->a.md@1", "six->img/f.png@8",
                                           "seven [nested]->g.md#h@8", "ref->refs/i.md@9"}));
}

TEST(DocsLinks, LinksLeavingTheRepositoryFail) {
  std::map<std::string, std::set<std::string>> cache;
  Link out{3, "notes", "../../" "shared/REFERENCE" ".md#1-forward-pass"};
  EXPECT_EQ(check_link("docs/model.md", out, cache).compare(0, 22, "leaves the repository "),
            0);
  Link up{4, "root", "/../x"};
  EXPECT_NE(check_link("README.md", up, cache).find("leaves the repository"), std::string::npos);
  Link in{5, "README", "../README.md#command-line"};
  EXPECT_EQ(check_link("docs/model.md", in, cache), "");
}

TEST(DocsLinks, EveryRelativeLinkResolves) {
  std::map<std::string, std::set<std::string>> anchor_cache;
  int checked = 0;
  for (const std::string& file : doc_files()) {
    const std::string markdown = read_text(root() / file);
    ASSERT_FALSE(markdown.empty()) << file << " is missing or empty";
    for (const Link& link : find_links(markdown)) {
      if (external(link.target)) continue;
      ++checked;
      std::string why = check_link(file, link, anchor_cache);
      if (!why.empty())
        ADD_FAILURE() << file << ":" << link.line << ": broken link [" << link.text << "]("
                      << link.target << "): " << why;
    }
  }
  EXPECT_GT(checked, 20) << "too few links found: is the source tree at " << root() << "?";
}

TEST(DocsLinks, ReadmeLinksEveryDocsPage) {
  std::set<std::string> linked;
  for (const Link& link : find_links(read_text(root() / "README.md"))) {
    std::string path = link.target.substr(0, link.target.find('#'));
    if (!path.empty() && !external(path))
      linked.insert(fs::path(path).lexically_normal().generic_string());
  }
  for (const std::string& file : doc_files()) {
    if (file != "README.md") {
      EXPECT_TRUE(linked.count(file)) << "README.md does not link " << file;
    }
  }
}

TEST(DocsLinks, EveryDocsPageLinksBackToReadme) {
  for (const std::string& file : doc_files()) {
    if (file == "README.md") continue;
    bool back = false;
    for (const Link& link : find_links(read_text(root() / file))) {
      std::string path = link.target.substr(0, link.target.find('#'));
      if (path.empty() || external(path)) continue;
      fs::path resolved = ((root() / file).parent_path() / path).lexically_normal();
      back = back || resolved == (root() / "README.md").lexically_normal();
    }
    EXPECT_TRUE(back) << file << " has no link back to README.md";
  }
}

}  // namespace
}  // namespace scouter
