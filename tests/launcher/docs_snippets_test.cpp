// Every snippet of README.md and docs/*.md holds (docs/testing.md, "Documentation snippets"):
// command lines and TOML are checked by the real CLI and parsers (launcher/docs_snippet_check.h),
// and the files under docs/examples/, which the pages include verbatim, run against a real run.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>

#include "common/h5.h"
#include "docs_markdown.h"
#include "launcher/docs_snippet_check.h"
#include "test_util.h"
#include "worker/toy_data.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

using testing::SnippetChecker;
using testing::TempDir;
namespace md = testing::markdown;

// What the examples run against: a real run folder (one epoch of SCOUTER+ smallcnn on the toy
// data) and its data.
struct ToyRun {
  std::string data, run, checkpoint, exported;  // exported: `scouter export RUN` of the run
};

// How the test runs each file under docs/examples/ (.py with /usr/bin/python3, .sh with bash and
// the built scouter first on PATH, both in an empty folder): its arguments, in which {run},
// {checkpoint}, {exported} and {data} stand for ToyRun's paths, and what its output must show beyond exit
// status 0 ("" when it does, else what is wrong). A new example gets a line here.
struct Example {
  std::string file;
  std::vector<std::string> args;
  std::function<std::string(const std::string& output, const ToyRun& run)> check;
};

// "name [d0, d1] torch.float32" for every tensor of the checkpoint's /model, as HDF5 stores it.
std::set<std::string> expected_state_dict_lines(const std::string& checkpoint) {
  std::set<std::string> lines;
  h5::Handle f = h5::open_file(checkpoint);
  h5::Handle g = h5::open_group(f.get(), "model");
  for (const std::string& name : h5::list_children(g.get())) {
    h5::DatasetInfo info = h5::dataset_info(g.get(), name);
    std::string shape;
    for (hsize_t d : info.dims) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    std::string dtype = info.type_class == H5T_FLOAT && info.type_size == 4 ? "torch.float32"
                        : info.type_class == H5T_INTEGER && info.type_size == 8 && info.is_signed
                            ? "torch.int64"
                            : "unexpected HDF5 type";
    lines.insert(name + " [" + shape + "] " + dtype);
  }
  return lines;
}

// The example printed every tensor of the run's checkpoint with its shape and dtype, once.
std::string same_state_dict(const std::string& output, const ToyRun& run) {
  std::set<std::string> expected = expected_state_dict_lines(run.checkpoint);
  std::vector<std::string> got = md::split_lines(output);
  std::set<std::string> got_set(got.begin(), got.end());
  if (got_set == expected && got.size() == expected.size()) return "";
  std::string missing;
  for (const auto& l : expected)
    if (!got_set.count(l)) missing += "\n  " + l;
  return "the state_dict does not list every tensor as stored; missing:" + missing;
}

const std::vector<Example>& examples() {
  static const std::vector<Example> kExamples = {
      {"load_checkpoint.py", {"{checkpoint}"}, same_state_dict},
      {"load_export.py", {"{exported}"}, same_state_dict},
  };
  return kExamples;
}

std::string substitute(std::string arg, const ToyRun& run) {
  for (const auto& [name, value] :
       {std::pair<std::string, std::string>{"{run}", run.run}, {"{checkpoint}", run.checkpoint},
        {"{exported}", run.exported}, {"{data}", run.data}}) {
    for (size_t p = arg.find(name); p != std::string::npos; p = arg.find(name, p))
      arg.replace(p, name.size(), value);
  }
  return arg;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

TEST(DocsSnippets, EveryPageHolds) {
  SnippetChecker checker;
  for (const std::string& file : md::doc_files()) {
    const std::string text = md::read_text(fs::path(testing::source_dir()) / file);
    ASSERT_FALSE(text.empty()) << file;
    for (const std::string& problem : checker.check_page(file, text)) ADD_FAILURE() << problem;
  }
  EXPECT_GT(checker.commands_checked(), 60) << "too few scouter command lines found";
}

// The checker against a page of mistakes: each is reported, with its line.
TEST(DocsSnippets, CheckerFindsEveryKindOfMistake) {
  const std::string page =
      "```sh\n"                                                              // line 1
      "scouter trian --epochs 1\n"
      "mpirun -np 2 --map-by ppr:2:node build/launcher/scouter train --epoch 3\n"
      "scouter prep MNIST --sours x   # comment\n"
      "scripts/no_such_script.sh\n"                                          // 5
      "scouter train --lambda_value abc\n"
      "```\n"
      "```sh\nscouter train --lr '1\n```\n"                                   // 8
      "```toml\n[sweep]\nnme = \"x\"\n```\n"                                  // 11
      "```toml\nlamda_value = 1.0\n```\n"                                     // 15
      "```python\nprint(1)\n```\n"                                            // 18
      "<!-- snippet: examples/load_checkpoint.py -->\n"
      "```python\nprint(1)\n```\n"                                            // 22
      "```bash\necho\n```\n"                                                  // 25
      "```\nscouter train -c run.toml\n```\n"                                 // 28
      "Text with `scouter bench [--stpes N]`, `scouter explain RUN --images abc`,\n"  // 31
      "`{k: torch.from_numpy(v[()]) for k in x}` and `scouter trian`.\n"
      "```sh\nOMP_NUM_THREADS=1 python3 -c 'import torch'\n```\n";                 // 33
  SnippetChecker checker;
  const std::vector<std::string> problems = checker.check_page("docs/synthetic.md", page);
  const std::vector<std::pair<int, std::string>> expected = {
      {2, "unknown command 'trian'"},
      {3, "unknown config key 'epoch'"},
      {4, "'prep' does not take --sours"},
      {5, "'scripts/no_such_script.sh' names no file"},
      {6, "--lambda_value must be a number"},
      {8, "bash -n"},
      {11, "as a sweep file"},
      {15, "unknown config key 'lamda_value'"},
      {18, "must show a file of docs/examples/"},
      {22, "differs from examples/load_checkpoint.py"},
      {25, "```bash blocks are not checked"},
      {29, "label the block ```sh"},
      {31, "'bench' does not take --stpes"},
      {31, "--images must be an integer"},
      {32, "Python in a code span"},
      {32, "unknown command 'trian'"},
      {34, "inline Python (-c) is run only from a file of docs/examples/"}};
  for (const auto& [line, text] : expected) {
    const std::string at = "docs/synthetic.md:" + std::to_string(line) + ": ";
    bool found = std::any_of(problems.begin(), problems.end(), [&](const std::string& p) {
      return p.compare(0, at.size(), at) == 0 && p.find(text) != std::string::npos;
    });
    EXPECT_TRUE(found) << "not reported: " << at << text;
  }
  EXPECT_EQ(problems.size(), expected.size()) << ::testing::PrintToString(problems);
}

// A block under "Generated by `scouter ARGS`:" must be exactly what the command prints: a stale
// block, a missing row, a failing command and a claim in another form are each reported.
TEST(DocsSnippets, GeneratedBlocksEqualTheCommandsOutput) {
  testing::CommandResult version = testing::run_scouter("version");
  testing::CommandResult keys = testing::run_scouter("keys --markdown true");
  ASSERT_EQ(version.exit_code, 0);
  ASSERT_EQ(keys.exit_code, 0);
  std::vector<std::string> rows = md::split_lines(keys.output);
  ASSERT_GT(rows.size(), 10u);
  const std::string dropped = rows.back();
  rows.pop_back();
  std::string page = "Generated by `scouter version`:\n\n" + version.output + "\n";  // holds
  page += "Generated by `scouter keys --markdown true`:\n\n";
  for (const std::string& r : rows) page += r + "\n";
  const int missing_line = static_cast<int>(md::split_lines(page).size()) + 1;
  page += "\nThe table below is generated by `scouter keys`.\n\n";
  const int claim_line = missing_line + 1;
  page += "Generated by `scouter version`:\n\nscouter 0.0 (old)\n\n";
  const int stale_line = claim_line + 4;
  page += "Generated by `scouter keys --markdown maybe`:\n\n| key |\n";
  const int failing_line = stale_line + 2;
  SnippetChecker checker;
  const std::vector<std::string> problems = checker.check_page("docs/synthetic.md", page);
  const std::vector<std::pair<int, std::string>> expected = {
      {missing_line, "the page has nothing, the command prints '" + dropped + "'"},
      {claim_line, "on a line of its own"},
      {stale_line, "the page has 'scouter 0.0 (old)'"},
      // `--markdown` alone is true, so "maybe" is an argument keys does not take.
      {failing_line, "`scouter keys --markdown maybe` failed: command line: 'keys' takes no "
                     "argument 'maybe'"},
      {failing_line, "'keys' takes no argument 'maybe'"}};  // its code span, as a command line
  for (const auto& [line, text] : expected) {
    const std::string at = "docs/synthetic.md:" + std::to_string(line) + ": ";
    EXPECT_TRUE(std::any_of(problems.begin(), problems.end(), [&](const std::string& p) {
      return p.compare(0, at.size(), at) == 0 && p.find(text) != std::string::npos;
    })) << "not reported: " << at << text << "\n" << ::testing::PrintToString(problems);
  }
  EXPECT_EQ(problems.size(), expected.size()) << ::testing::PrintToString(problems);
}

// Every form the pages use is accepted: launcher prefixes, a config file the reader writes,
// bare command names in prose, synopses with options, alternatives and metavariables.
TEST(DocsSnippets, CheckerAcceptsTheFormsThePagesUse) {
  const std::string page =
      "```sh\n"
      "OMP_NUM_THREADS=1 srun --mpi=pmix -n 8 -c 4 build/launcher/scouter train -c run.toml \\\n"
      "  --threads 4 --lambda_value 1.   # Slurm\n"
      "scouter help\n"
      "```\n"
      "```toml\n[sweep]\nname = \"x\"\n[defaults]\nepochs = 2\n[runs.fc]\nuse_slot = false\n```\n"
      "```toml\nepochs = 3\nmodel = \"smallcnn\"\n```\n"
      "`scouter prep`, `scouter version`, `scouter keys [--markdown true]`,\n"
      "`scouter prep ImageNet\\|CUB200 --src DIR [--img_size S] [--max_bad_fraction F]`,\n"
      "`scouter explain RUN [RUN ...] [--images N | --all] [--classes C,C,...] [--key value ...]`,\n"
      "`scouter vis --output_dir RUN [--vis_id N]`, `mpirun -np <ranks> scouter train -c "
      "<run>/run.toml`\n"
      "<!-- snippet: examples/load_checkpoint.py -->\n```python\n" +
      md::read_text(fs::path(testing::source_dir()) / "docs/examples/load_checkpoint.py") + "```\n";
  SnippetChecker checker;
  EXPECT_EQ(checker.check_page("docs/synthetic.md", page), std::vector<std::string>{});
  EXPECT_EQ(checker.commands_checked(), 11);
}

TEST(DocsSnippets, SynopsesExpandIntoCommandLines) {
  using Lines = std::vector<std::vector<std::string>>;
  EXPECT_EQ(testing::expand_synopsis("scouter prep A\\|B [--src DIR] [--max_bad_fraction F]"),
            (Lines{{"scouter", "prep", "A", "--src", "DIR", "--max_bad_fraction", "0.5"},
                   {"scouter", "prep", "B", "--src", "DIR", "--max_bad_fraction", "0.5"}}));
  // After a config key a metavariable takes the key's default (a string without its quotes).
  const std::string vis_id = std::to_string(Config{}.vis_id), dataset = Config{}.dataset;
  EXPECT_EQ(testing::expand_synopsis("scouter x [--images N | --all] [--vis_id N] [RUN ...] "
                                     "[--dataset TEXT] [--key value ...]"),
            (Lines{{"scouter", "x", "--images", "1", "--vis_id", vis_id, "RUN", "--dataset", dataset},
                   {"scouter", "x", "--all", "--vis_id", vis_id, "RUN", "--dataset", dataset}}));
  std::vector<std::string> args;
  ASSERT_TRUE(testing::scouter_arguments(
      testing::shell_words("A=1 mpirun -np 2 --map-by 'ppr:2:node' ./scouter train --lr \"1e-3\" "
                           "# comment"),
      args));
  EXPECT_EQ(args, (std::vector<std::string>{"train", "--lr", "1e-3"}));
  EXPECT_FALSE(testing::scouter_arguments(testing::shell_words("mpirun -np 2 ./other"), args));
  EXPECT_FALSE(testing::scouter_arguments(testing::shell_words("cmake --build scouter"), args));
}

// The files under docs/examples/: each shown on a page (EveryPageHolds compares the text), each
// run against a real run folder by its line in examples().
TEST(DocsExamples, EveryExampleIsShownAndRuns) {
  const fs::path dir = fs::path(testing::source_dir()) / "docs" / "examples";
  std::set<std::string> shown;
  for (const std::string& file : md::doc_files())
    for (const auto& block : md::fenced_blocks(md::read_text(fs::path(testing::source_dir()) / file)))
      if (!block.marker.empty())
        shown.insert(((fs::path(testing::source_dir()) / file).parent_path() / block.marker)
                         .lexically_normal()
                         .string());
  std::set<std::string> listed;
  for (const Example& e : examples()) listed.insert(e.file);
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(shown.count(entry.path().lexically_normal().string()))
        << "docs/examples/" << name << " is on no page (include it under a <!-- snippet: --> line)";
    const std::string ext = entry.path().extension().string();
    if (ext == ".py" || ext == ".sh") {
      EXPECT_TRUE(listed.count(name)) << "docs/examples/" << name << " has no line in examples()";
    }
  }

  TempDir tmp;
  ToyRun run{tmp.file("data"), tmp.file("run"), tmp.file("run") + "/checkpoints/epoch-0001.h5",
             tmp.file("run") + "/export/model.pth"};
  testing::write_toy_shards(run.data, 256, 64);
  testing::CommandResult trained = testing::run_scouter(
      "train --model smallcnn --num_classes 4 --img_size 28 --batch_size 32 --threads 1 "
      "--epochs 1 --dataset_dir " + run.data + " --output_dir " + run.run);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  testing::CommandResult exported = testing::run_scouter("export " + run.run);
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  const std::string bin_dir = fs::path(testing::scouter_bin()).parent_path().string();
  for (const Example& e : examples()) {
    SCOPED_TRACE(e.file);
    const fs::path file = dir / e.file;
    ASSERT_TRUE(fs::is_regular_file(file));
    std::string command = "cd " + quoted(tmp.path()) + " && ";
    if (file.extension() == ".py") {
      command += "/usr/bin/python3 " + quoted(file.string());
    } else {
      command += "PATH=" + quoted(bin_dir) + ":\"$PATH\" bash " + quoted(file.string());
    }
    for (const std::string& a : e.args) command += " " + quoted(substitute(a, run));
    testing::CommandResult r = testing::run_command(command);
    ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.output;
    EXPECT_EQ(e.check(r.output, run), "") << r.output;
  }
}

}  // namespace
}  // namespace scouter
