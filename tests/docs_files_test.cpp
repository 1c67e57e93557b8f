// Files and words a reader can follow: every Markdown file that a page, a sweep file, a script
// or a source file names (`docs/gpu.md`, `../README.md`) is in the repository, and no text file
// of the source tree (pages, sweep files, scripts, code comments) uses a reference that only the
// developers can follow (internal_references in docs_markdown.h). The links themselves:
// docs_links_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "docs_markdown.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

using namespace testing::markdown;

const fs::path& root() {
  static const fs::path r = fs::path(testing::source_dir());
  return r;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// --- Files named in text: Markdown files of the repository only ---

// The source tree's text that readers and developers read, relative to root(): the pages, the
// sweep files, the scripts, the build files and every source and test file (not the fixtures).
std::vector<std::string> tree_text_files() {
  static const std::vector<std::string> kFolders = {".ci",      "cmake",   "common",
                                                    "container", "datasets", "docs",
                                                    "experiments", "launcher", "scripts",
                                                    "slurm",    "tests",   "worker"};
  std::vector<std::string> files = {"README.md", "CMakeLists.txt"};
  for (const std::string& folder : kFolders) {
    if (!fs::is_directory(root() / folder)) continue;
    for (auto it = fs::recursive_directory_iterator(root() / folder);
         it != fs::recursive_directory_iterator(); ++it) {
      const std::string rel = fs::relative(it->path(), root()).generic_string();
      if (it->is_directory() && rel == "tests/fixtures") it.disable_recursion_pending();
      if (it->is_regular_file()) files.push_back(rel);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Problems "LINE: 'NAME.md' ..." for each Markdown file that `text` (of `file`, relative to
// root()) cites and the repository does not hold, relative to the file's folder or to the root.
// Cited: a name with a folder (docs/x.md, ../x.md), a capitals name (README.md, NOTES.md), and
// any name on a Markdown page. A script's or program's bare output name (table.md), URLs and
// names with a placeholder or a variable ($OUT/table.md, <x>.md) are not citations.
std::vector<std::string> missing_markdown_files(const std::string& file, const std::string& text) {
  static const std::regex kUrl(R"([A-Za-z][A-Za-z0-9+.-]*://[^\s)>\]`'"]*)");
  static const std::regex kName(R"([^\s`'"()\[\]<>,;:|=]*[A-Za-z0-9_-]\.md\b)");
  const bool page = ends_with(file, ".md");
  std::vector<std::string> problems;
  const std::vector<std::string> lines = split_lines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string line = std::regex_replace(lines[n], kUrl, " ");
    for (std::sregex_iterator m(line.begin(), line.end(), kName), end; m != end; ++m) {
      std::string name = m->str();
      if (name.find_first_of("$<>{}*~") != std::string::npos || name[0] == '/') continue;
      const std::string stem = name.substr(0, name.size() - 3);
      const bool capitals = std::none_of(stem.begin(), stem.end(), [](char c) {
        return std::islower(static_cast<unsigned char>(c));
      });
      if (!page && !capitals && name.find('/') == std::string::npos) continue;
      const fs::path here = (root() / file).parent_path() / name, top = root() / name;
      if (fs::exists(here) || fs::exists(top)) continue;
      problems.push_back(std::to_string(n + 1) + ": '" + name +
                         "' is not a file of the repository (a reader has only the repository: "
                         "bring what it says into docs/ and cite its public source)");
    }
  }
  return problems;
}

TEST(DocsFiles, NamedMarkdownFilesMustBeInTheRepository) {
  const std::string text =
      "As the team's " "REFERENCE" ".md says (see ../../" "shared/NOTES" ".md),\n"
      "which [README](../README.md), `gpu.md`, docs/model.md and\n"
      "https://github.com/wbw520/scouter/blob/master/README.md do not: $OUT/table.md, <x>.md;\n"
      "see trainnig.md, writes bench_table.md.\n";
  // "LINE: 'NAME' ..." as "LINE:NAME".
  auto names = [](const std::vector<std::string>& problems) {
    std::vector<std::string> out;
    for (const std::string& p : problems) {
      const size_t a = p.find('\''), b = p.find('\'', a + 1);
      out.push_back(p.substr(0, p.find(':')) + ":" + p.substr(a + 1, b - a - 1));
    }
    return out;
  };
  EXPECT_EQ(names(missing_markdown_files("docs/page.md", text)),
            (std::vector<std::string>{"1:REFERENCE" ".md", "1:../../" "shared/NOTES" ".md",
                                      "4:trainnig.md", "4:bench_table.md"}));
  // In a script or a source file a bare lower-case name is a file it writes, not a citation.
  EXPECT_EQ(names(missing_markdown_files("scripts/x.sh", text)),
            (std::vector<std::string>{"1:REFERENCE" ".md", "1:../../" "shared/NOTES" ".md"}));
}

// The two docs tests hold made-up pages with made-up names on purpose.
TEST(DocsFiles, EveryNamedMarkdownFileIsInTheRepository) {
  const std::set<std::string> kProbes = {"tests/docs_links_test.cpp", "tests/docs_files_test.cpp",
                                         "tests/launcher/docs_snippets_test.cpp"};
  const std::vector<std::string> files = tree_text_files();
  ASSERT_GT(files.size(), 100u) << "is the source tree at " << root() << "?";
  for (const std::string& file : files) {
    if (kProbes.count(file)) continue;
    const std::string text = read_text(root() / file);
    if (text.find('\0') != std::string::npos) continue;  // binary
    for (const std::string& p : missing_markdown_files(file, text)) ADD_FAILURE() << file << ":" << p;
  }
}

// --- Wording: nothing only the developers can look up ---

TEST(DocsWording, InternalReferencesAreFound) {
  const std::string text =
      "Comma lists are refused (issue 5); see the Issue Notes for the tables.\n"   // 1
      "Measured on the 2-core development VM and on the dev machine.\n"           // 2
      "Seen on the GPU machine; Apptainer is not on the CI machine.\n"             // 3
      "The overhead is for the next session; details in ../" "shared/PLATFORM" ".md.\n"  // 4
      "An NVIDIA H100 machine (pytorch/pytorch#133437), a 2-core Debian 12 VM, a GPU.\n"  // 5
      "// Normalisation: the published values (REFERENCE" " section 4), a reference run.\n";  // 6
  std::vector<std::string> got;
  for (const auto& r : internal_references(text))
    got.push_back(std::to_string(r.line) + ":" + r.phrase);
  EXPECT_EQ(got, (std::vector<std::string>{"1:issue 5", "1:Issue Notes", "2:development VM",
                                           "2:dev machine", "3:the GPU machine",
                                           "3:the CI machine", "4:next session", "4:../" "shared/",
                                           "6:REFERENCE" " section"}));
}

// The pages, sweep files and scripts, and the comments and messages of the code: a reader has
// the repository only. The two docs tests hold made-up mistakes on purpose.
TEST(DocsWording, NoInternalReferencesForReaders) {
  const std::set<std::string> kProbes = {"tests/docs_links_test.cpp", "tests/docs_files_test.cpp",
                                         "tests/docs_markdown.cpp"};
  int files = 0;
  for (const std::string& file : tree_text_files()) {
    if (kProbes.count(file)) continue;
    const std::string text = read_text(root() / file);
    if (text.find('\0') != std::string::npos) continue;  // binary
    ++files;
    for (const auto& r : internal_references(text))
      ADD_FAILURE() << file << ":" << r.line << ": '" << r.phrase << "': " << r.why;
  }
  EXPECT_GT(files, 100);
}

}  // namespace
}  // namespace scouter
