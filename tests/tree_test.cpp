// The source tree keeps the shape docs/architecture.md gives it ("Dependencies point one way",
// "Where tests live"):
//   1. Each library folder includes only the folders its row of kMayInclude names: nothing points
//      back up, and train/ and explain/ are siblings over run/.
//   2. Tests sit beside the code they test: every tests/<folder>/ names a source folder, and each
//      of its *_test.cpp files includes a header of that folder, or (tests/launcher/ only) runs
//      the scouter binary, whose commands are the launcher's code. Two exceptions, listed here:
//      whole-tree checks at tests/ itself (kWholeTree), and tests/gpu/ (kCheckFolders).
// Each check is also run on a small made-up tree that breaks it, so a check that cannot fail
// fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

using testing::TempDir;

// The library folders and what each may include (its own folder always). The order is the
// floors of docs/architecture.md, lowest first.
const std::map<std::string, std::set<std::string>>& may_include() {
  static const std::map<std::string, std::set<std::string>> table = {
      {"common", {}},
      {"datasets", {"common"}},
      {"worker/model", {"common", "datasets"}},
      {"worker/comm", {"common"}},
      {"worker/run", {"common", "datasets", "worker/model", "worker/comm"}},
      {"worker/train", {"common", "datasets", "worker/model", "worker/comm", "worker/run"}},
      {"worker/explain", {"common", "datasets", "worker/model", "worker/comm", "worker/run"}},
      {"launcher",
       {"common", "datasets", "worker/model", "worker/comm", "worker/run", "worker/train",
        "worker/explain"}},
  };
  return table;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_source(const fs::path& p) {
  const std::string e = p.extension().string();
  return e == ".h" || e == ".cpp";
}

// The library folder (a key of may_include) that `include` ("worker/run/data.h") lies in, or "".
std::string folder_of(const std::string& include) {
  std::string best;
  for (const auto& [folder, _] : may_include())
    if (include.rfind(folder + "/", 0) == 0 && folder.size() > best.size()) best = folder;
  return best;
}

// "file:line: includes X (folder F may include: ...)" for every include that points elsewhere.
std::vector<std::string> layering_violations(const fs::path& root) {
  static const std::regex kInclude(R"re(^\s*#\s*include\s+"([^"]+)")re");
  std::vector<std::string> bad;
  for (const auto& [folder, allowed] : may_include()) {
    if (!fs::is_directory(root / folder)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / folder)) {
      if (!e.is_regular_file() || !is_source(e.path())) continue;
      std::istringstream lines(read_all(e.path()));
      std::string line;
      for (int n = 1; std::getline(lines, line); ++n) {
        std::smatch m;
        if (!std::regex_search(line, m, kInclude)) continue;
        const std::string target = folder_of(m[1].str());
        if (target.empty() || target == folder || allowed.count(target)) continue;
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        bad.push_back(fs::relative(e.path(), root).string() + ":" + std::to_string(n) +
                      ": includes " + m[1].str() + " (" + folder + "/ may include: " +
                      (list.empty() ? "nothing else" : list) + ")");
      }
    }
  }
  return bad;
}

// Checks of the tree as a whole (this file; the docs' links), at tests/ itself.
const std::set<std::string> kWholeTree = {"tree_test.cpp", "docs_links_test.cpp", "docs_files_test.cpp"};
// Test folders that are not a source folder: what needs a GPU, across the libraries
// (scripts/gpu_check.sh builds and runs it on a GPU machine).
const std::set<std::string> kCheckFolders = {"gpu"};

// Test files that are not beside the code they test (rule 2), with why.
std::vector<std::string> misplaced_tests(const fs::path& root) {
  std::vector<std::string> bad;
  const fs::path tests = root / "tests";
  for (const auto& e : fs::recursive_directory_iterator(tests)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.size() < 9 || name.substr(name.size() - 9) != "_test.cpp")
      continue;
    const std::string folder = fs::relative(e.path().parent_path(), tests).string();
    const std::string where = "tests/" + folder + "/" + name;
    if (folder == ".") {
      if (!kWholeTree.count(name))
        bad.push_back("tests/" + name + ": not in a folder of the tree (only the whole-tree "
                      "checks of tree_test.cpp's kWholeTree sit at tests/)");
      continue;
    }
    if (kCheckFolders.count(folder)) continue;
    if (!fs::is_directory(root / folder)) {
      bad.push_back(where + ": there is no source folder " + folder + "/");
      continue;
    }
    const std::string text = read_all(e.path());
    const bool includes_folder = text.find("#include \"" + folder + "/") != std::string::npos;
    const bool runs_binary =
        folder == "launcher" && (text.find("run_scouter(") != std::string::npos ||
                                 text.find("scouter_bin()") != std::string::npos);
    if (!includes_folder && !runs_binary)
      bad.push_back(where + ": includes no header of " + folder + "/" +
                    (folder == "launcher" ? " and runs no scouter command" : ""));
  }
  return bad;
}

std::string lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += "  " + x + "\n";
  return s;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

TEST(Tree, DependenciesPointOneWay) {
  const fs::path root = testing::source_dir();
  ASSERT_TRUE(fs::is_directory(root / "worker/run")) << root;
  auto bad = layering_violations(root);
  EXPECT_TRUE(bad.empty()) << "includes against docs/architecture.md's layering:\n" << lines(bad);
}

TEST(Tree, TestsSitBesideTheCodeTheyTest) {
  auto bad = misplaced_tests(testing::source_dir());
  EXPECT_TRUE(bad.empty()) << "tests outside the rule of docs/architecture.md:\n" << lines(bad);
}

TEST(Tree, TheChecksFindWhatBreaksThem) {
  TempDir dir;
  const fs::path root = dir.path();
  write(root / "worker/explain/ok.cpp", "#include \"worker/run/trained_run.h\"\n");
  write(root / "worker/explain/bad.cpp",
        "#include <vector>\n#include \"worker/explain/ok.h\"\n#include \"worker/train/trainer.h\"\n");
  write(root / "common/bad.h", "  #  include \"datasets/shard_format.h\"\n");
  auto bad = layering_violations(root);
  ASSERT_EQ(bad.size(), 2u) << lines(bad);
  EXPECT_EQ(bad[0], "common/bad.h:1: includes datasets/shard_format.h (common/ may include: nothing else)");
  EXPECT_NE(bad[1].find("worker/explain/bad.cpp:3: includes worker/train/trainer.h"),
            std::string::npos)
      << bad[1];

  write(root / "tests/worker/explain/ok_test.cpp", "#include \"worker/explain/ok.h\"\n");
  write(root / "tests/worker/explain/elsewhere_test.cpp", "#include \"worker/train/trainer.h\"\n");
  write(root / "tests/launcher/cli_test.cpp", "run_scouter(\"help\");\n");
  write(root / "tests/nowhere/x_test.cpp", "#include \"nowhere/x.h\"\n");
  write(root / "tests/loose_test.cpp", "\n");
  fs::create_directories(root / "launcher");
  auto misplaced = misplaced_tests(root);
  std::sort(misplaced.begin(), misplaced.end());
  ASSERT_EQ(misplaced.size(), 3u) << lines(misplaced);
  EXPECT_NE(misplaced[0].find("tests/loose_test.cpp: not in a folder"), std::string::npos);
  EXPECT_NE(misplaced[1].find("tests/nowhere/x_test.cpp: there is no source folder nowhere/"),
            std::string::npos);
  EXPECT_NE(misplaced[2].find("tests/worker/explain/elsewhere_test.cpp: includes no header of "
                              "worker/explain/"),
            std::string::npos);
}

}  // namespace
}  // namespace scouter
