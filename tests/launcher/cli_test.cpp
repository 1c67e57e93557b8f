// The `scouter` binary as a user meets it: bad input gets one clear line and exit status 2,
// and leaves no half-written output.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "common/config.h"
#include "common/error.h"
#include "common/files.h"
#include "datasets/image_prep.h"
#include "launcher/cli.h"
#include "test_util.h"
#include "worker/run/cpu_bf16.h"
#include "worker/toy_data.h"

namespace scouter {
namespace {

using testing::CommandResult;
using testing::TempDir;

// Big-endian IDX writer for hand-made (and hand-broken) files.
std::string idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, size_t payload, uint8_t fill = 1) {
  std::string s;
  auto put = [&](uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(magic);
  for (auto d : dims) put(d);
  s.append(payload, static_cast<char>(fill));
  return s;
}

void write_mnist(const std::string& dir, int n_train, int n_test, uint8_t label = 3) {
  testing::write_bytes(dir + "/train-images-idx3-ubyte", idx_bytes(0x803, {uint32_t(n_train), 28, 28}, n_train * 784));
  testing::write_bytes(dir + "/train-labels-idx1-ubyte", idx_bytes(0x801, {uint32_t(n_train)}, n_train, label));
  testing::write_bytes(dir + "/t10k-images-idx3-ubyte", idx_bytes(0x803, {uint32_t(n_test), 28, 28}, n_test * 784));
  testing::write_bytes(dir + "/t10k-labels-idx1-ubyte", idx_bytes(0x801, {uint32_t(n_test)}, n_test, 1));
}

bool has_h5(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.path().string().find(".h5") != std::string::npos) return true;
  return false;
}

TEST(Cli, ParsesKeyValueForms) {
  const char* argv[] = {"scouter", "train", "-c", "a.toml", "--lr=0.5", "--epochs", "3", "pos"};
  ParsedArgs a = parse_args(8, const_cast<char**>(argv));
  EXPECT_EQ(a.command, "train");
  ASSERT_EQ(a.options.size(), 3u);
  EXPECT_EQ(a.options[0], std::make_pair(std::string("config"), std::string("a.toml")));
  EXPECT_EQ(a.options[1], std::make_pair(std::string("lr"), std::string("0.5")));
  EXPECT_EQ(a.options[2], std::make_pair(std::string("epochs"), std::string("3")));
  EXPECT_EQ(a.positional, std::vector<std::string>{"pos"});
}

TEST(Cli, UsageAndUnknownCommand) {
  EXPECT_USAGE_ERROR(testing::run_scouter(""), "usage: scouter");
  EXPECT_USAGE_ERROR(testing::run_scouter("trian"), "unknown command 'trian'");
  EXPECT_EQ(testing::run_scouter("help").exit_code, 0);
  EXPECT_USAGE_ERROR(testing::run_scouter("train --epochs"), "--epochs needs a value");
}

// `--help` or `-h` after a command prints that command's forms and nothing else, exit 0, however
// the rest of the line looks; `scouter help COMMAND` prints the same.
TEST(Cli, HelpAfterAnyCommandPrintsItsUsage) {
  const std::vector<std::string> commands = {"prep",   "train",   "import", "evaluate",
                                             "export", "vis",     "explain", "sweep",
                                             "report", "bench",   "keys",   "version"};
  for (const std::string& c : commands) {
    SCOPED_TRACE(c);
    CommandResult help = testing::run_scouter(c + " --help");
    ASSERT_EQ(help.exit_code, 0) << help.output;
    const std::string head = "usage:\n  scouter " + c;
    EXPECT_EQ(help.output.compare(0, head.size(), head), 0) << help.output;
    EXPECT_EQ(help.output, command_usage(c));
    for (const std::string& other : commands) {  // only its own entries
      if (other != c) {
        EXPECT_EQ(help.output.find("  scouter " + other + " "), std::string::npos) << other;
      }
    }
    EXPECT_EQ(testing::run_scouter(c + " -h").output, help.output);
    if (c == "bench" || c == "explain") {  // the same path for every command: two suffice
      EXPECT_EQ(testing::run_scouter("help " + c).output, help.output);
    }
  }
  // Both forms of a command; anything else on the line is not looked at.
  const std::string bench = testing::run_scouter("bench --steps --help").output;
  EXPECT_NE(bench.find("scouter bench [--steps N]"), std::string::npos) << bench;
  EXPECT_NE(bench.find("scouter bench --loader DIR"), std::string::npos) << bench;
  EXPECT_EQ(testing::run_scouter("train --epochs 1 --epochs 2 -h").exit_code, 0);
  EXPECT_USAGE_ERROR(testing::run_scouter("trian --help"), "unknown command 'trian'");
  EXPECT_USAGE_ERROR(testing::run_scouter("help trian"), "unknown command 'trian'");
  // The whole text names exactly these commands (and help): a new command joins the list above.
  CommandResult all = testing::run_scouter("--help");
  ASSERT_EQ(all.exit_code, 0);
  std::set<std::string> listed;
  std::istringstream lines(all.output);
  for (std::string line; std::getline(lines, line);)
    if (line.size() > 2 && line.compare(0, 2, "  ") == 0 && line[2] != ' ')
      listed.insert(line.substr(2, line.find(' ', 2) - 2));
  std::set<std::string> expected(commands.begin(), commands.end());
  expected.insert("help");
  EXPECT_EQ(listed, expected);
}

ParsedArgs parse(std::vector<std::string> words) {
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  return parse_args(static_cast<int>(argv.size()), argv.data());
}

using Options = std::vector<std::pair<std::string, std::string>>;

// A boolean config key or a command's own true/false option may stand alone; a following
// true/false word is its value, any other word stays an argument; other options need a value.
TEST(Cli, TrueFalseOptionsMayStandAlone) {
  ParsedArgs report = parse({"scouter", "report", "--html", "runs/a", "runs/b"});
  EXPECT_EQ(report.options, (Options{{"html", "true"}}));
  EXPECT_EQ(report.positional, (std::vector<std::string>{"runs/a", "runs/b"}));
  ParsedArgs explain = parse({"scouter", "explain", "--all", "RUN", "--metrics", "false"});
  EXPECT_EQ(explain.options, (Options{{"all", "true"}, {"metrics", "false"}}));
  EXPECT_EQ(explain.positional, std::vector<std::string>{"RUN"});
  ParsedArgs train = parse({"scouter", "train", "--resume", "--vis", "no", "--aug", "--epochs", "3"});
  EXPECT_EQ(train.options, (Options{{"resume", "true"}, {"vis", "no"}, {"aug", "true"}, {"epochs", "3"}}));
  EXPECT_EQ(parse({"scouter", "keys", "--markdown"}).options, (Options{{"markdown", "true"}}));
  EXPECT_EQ(parse({"scouter", "sweep", "s.toml", "--dry-run", "--slurm"}).options,
            (Options{{"dry-run", "true"}, {"slurm", "true"}}));
  EXPECT_EQ(parse({"scouter", "prep", "CUB200", "--overwrite"}).options, (Options{{"overwrite", "true"}}));
  EXPECT_EQ(parse({"scouter", "bench", "--scaling"}).options, (Options{{"scaling", "true"}}));

  // Every option that a command's usage shows without a value ([--markdown], --all]) is taken
  // alone: the usage shows only forms that work.
  static const std::regex kBare(R"(--([a-z_-]+)(\]| \||$))");
  int bare_forms = 0;
  for (const char* c : {"prep", "train", "import", "evaluate", "export", "vis", "explain",
                        "sweep", "report", "bench", "keys", "version"}) {
    const std::string text = command_usage(c);
    for (std::sregex_iterator m(text.begin(), text.end(), kBare), end; m != end; ++m) {
      SCOPED_TRACE(std::string(c) + " --" + (*m)[1].str());
      ++bare_forms;
      std::vector<std::string> words = {"scouter", c, "--" + (*m)[1].str()};
      EXPECT_EQ(parse(words).options, (Options{{(*m)[1].str(), "true"}}));
    }
  }
  EXPECT_GE(bare_forms, 3);  // keys --markdown, explain --all, report --html
  // Not true/false options: a value is needed.
  EXPECT_THROW(parse({"scouter", "train", "--epochs"}), UserError);
  EXPECT_THROW(parse({"scouter", "train", "--html"}), UserError);  // report's, not train's
  EXPECT_THROW(parse({"scouter", "keys", "--all"}), UserError);    // explain's

  // Through the binary: the bare flag does what `true` does, a bad value is one clear line.
  CommandResult bare = testing::run_scouter("keys --markdown");
  ASSERT_EQ(bare.exit_code, 0) << bare.output;
  EXPECT_EQ(bare.output, testing::run_scouter("keys --markdown true").output);
  const std::string header = "| key | default | meaning |\n";
  EXPECT_EQ(bare.output.compare(0, header.size(), header), 0) << bare.output;
  EXPECT_USAGE_ERROR(testing::run_scouter("keys --markdown=maybe"), "--markdown must be true or false, got 'maybe'");
  EXPECT_USAGE_ERROR(testing::run_scouter("sweep x.toml --slurm=maybe"), "--slurm must be true or false");
  EXPECT_USAGE_ERROR(testing::run_scouter("keys --markdown maybe"), "'keys' takes no argument 'maybe'");
}

// --profile true: after the bench table, each case's phase table and operator table; the step
// split into phases is worker/train/step_profile.h's.
TEST(Cli, BenchProfilePrintsPhaseAndOperatorTables) {
  const std::string quickstart = "quickstart SCOUTER+ smallcnn 1x28x28";
  CommandResult r = testing::run_scouter(
      "bench --profile --filter \"quickstart SCOUTER+\" --steps 2 --threads 1 --precision fp32");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const size_t table = r.output.find("| " + quickstart + " | fp32 |");
  const size_t profile = r.output.find("profile: " + quickstart + " (fp32)");
  ASSERT_NE(table, std::string::npos) << r.output;
  ASSERT_NE(profile, std::string::npos) << r.output;
  EXPECT_LT(table, profile);
  size_t at = profile;
  for (const char* line : {"| phase | ms/step | % of step |", "| forward: backbone |",
                           "| forward: xSlot head + loss |", "| backward: xSlot head + loss |",
                           "| backward: backbone |", "| optimizer: zero_grad + step |", "| total |",
                           "| operator | ms/step | % of operator time | calls/step | µs/call |",
                           "| aten::", "| all operators |", "top-level operators per step"}) {
    at = r.output.find(line, at);
    ASSERT_NE(at, std::string::npos) << line << " missing, or out of order:\n" << r.output;
  }
  // The backward's work appears by autograd node, without the engine's prefix.
  EXPECT_NE(r.output.find("Backward0 |", profile), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("autograd::engine"), std::string::npos) << r.output;
  // Only one case ran, so one profile.
  EXPECT_EQ(r.output.find("profile: ", profile + 1), std::string::npos) << r.output;

  EXPECT_USAGE_ERROR(testing::run_scouter("bench --profile --scaling"), "--profile true times one process");
  EXPECT_USAGE_ERROR(testing::run_scouter("bench --profile=maybe"), "--profile must be true or false");
}

TEST(Cli, ConfigMistakesNameTheKey) {
  EXPECT_USAGE_ERROR(testing::run_scouter("train --batchsize 3"), "did you mean 'batch_size'");
  EXPECT_USAGE_ERROR(testing::run_scouter("train --batch_size abc"), "--batch_size must be an integer");
  EXPECT_USAGE_ERROR(testing::run_scouter("train --loss_status 0"), "invalid value 0 for key 'loss_status'");
  EXPECT_USAGE_ERROR(testing::run_scouter("train --slots_per_class 0"), "slots_per_class");
  EXPECT_USAGE_ERROR(testing::run_scouter("train --power 0"), "power");
  EXPECT_USAGE_ERROR(testing::run_scouter("train --hidden_dim 62"), "multiple of 4");
  TempDir dir;
  testing::write_bytes(dir.file("bad.toml"), "epochs = 2\nuse_slot = \"yes\"\n");
  EXPECT_USAGE_ERROR(testing::run_scouter("train -c " + dir.file("bad.toml")), dir.file("bad.toml") + ":2");
  EXPECT_USAGE_ERROR(testing::run_scouter("train -c " + dir.file("none.toml")), "none.toml");
  EXPECT_USAGE_ERROR(testing::run_scouter("train -c " + dir.path()), "is a folder, not a file");
  EXPECT_USAGE_ERROR(testing::run_scouter("train --epochs 1 --epochs 2"), "--epochs is given twice ('1', then '2')");
  EXPECT_USAGE_ERROR(testing::run_scouter("train --dataset_dir " + dir.file("nothing") + " --output_dir " + dir.file("o")),
                     "scouter prep");
}

TEST(Cli, PrepRejectsBrokenIdxFilesWithoutWritingShards) {
  TempDir src, out;
  EXPECT_USAGE_ERROR(testing::run_scouter("prep MNIST --src " + src.path() + " --out " + out.path()),
                     "train-images-idx3-ubyte");
  write_mnist(src.path(), 20, 10);
  testing::write_bytes(src.file("train-images-idx3-ubyte"), idx_bytes(0x803, {20, 28, 28}, 100));
  EXPECT_USAGE_ERROR(testing::run_scouter("prep MNIST --src " + src.path() + " --out " + out.path()), "truncated");
  testing::write_bytes(src.file("train-images-idx3-ubyte"), idx_bytes(0x804, {20, 28, 28}, 20 * 784));
  EXPECT_USAGE_ERROR(testing::run_scouter("prep MNIST --src " + src.path() + " --out " + out.path()), "magic");
  write_mnist(src.path(), 20, 10, /*label=*/12);
  EXPECT_USAGE_ERROR(testing::run_scouter("prep MNIST --src " + src.path() + " --out " + out.path()), "label");
  EXPECT_FALSE(has_h5(out.path()));
  write_mnist(src.path(), 20, 10);
  EXPECT_EQ(testing::run_scouter("prep MNIST --src " + src.path() + " --out " + out.path()).exit_code, 0);
  EXPECT_TRUE(has_h5(out.path()));
  // An image dataset in an IDX folder: its first missing layout file is named.
  EXPECT_USAGE_ERROR(testing::run_scouter("prep CUB200 --src " + src.path()), "images.txt");
}

TEST(Cli, CorruptShardAndForeignCheckpointAreRefused) {
  TempDir data, runs;
  testing::write_toy_shards(data.path(), 256, 64, 1, 128);
  const std::string base = " --model smallcnn --img_size 0 --epochs 1 --threads 1 --dataset_dir " + data.path();
  const std::string common = base + " --num_classes 4";
  CommandResult ok = testing::run_scouter("train" + common + " --output_dir " + runs.file("a"));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(file_exists(runs.file("a") + "/command.txt"));
  EXPECT_USAGE_ERROR(testing::run_scouter("train" + common + " --output_dir " + runs.file("a")), "--resume true");
  EXPECT_USAGE_ERROR(
      testing::run_scouter("train" + common + " --resume true --slots_per_class 2 --output_dir " + runs.file("a")),
      "slots_per_class: checkpoint 1, config 2");
  EXPECT_USAGE_ERROR(testing::run_scouter("train" + base + " --num_classes 9 --output_dir " + runs.file("b")),
                     "has 4 classes");

  CommandResult report = testing::run_scouter("report " + runs.path());
  EXPECT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(report.output.find("SCOUTER+ smallcnn"), std::string::npos) << report.output;
  EXPECT_NE(report.output.find("complete"), std::string::npos) << report.output;

  // Garble one shard: the error names that file.
  std::string victim = data.file("train-00001-of-00002.h5");
  testing::write_bytes(victim, "garbage");
  CommandResult bad = testing::run_scouter("train" + common + " --output_dir " + runs.file("c"));
  EXPECT_USAGE_ERROR(bad, "train-00001-of-00002.h5");
}

// dataset_dir and output_dir from environment variables, expanded by the training process (the
// shell passes them on unexpanded); config.toml keeps them as written, so the same command
// resumes the same run. evaluate expands the stored dataset_dir where it runs.
TEST(Cli, PathsFromEnvironmentVariables) {
  TempDir data, runs;
  testing::write_toy_shards(data.path(), 256, 64, 1, 128);
  const std::string env = "SCOUTER_TEST_DATA=" + data.path() + " SCOUTER_TEST_RUNS=" + runs.path() + " ";
  const std::string train = env + testing::scouter_bin() +
                            " train --model smallcnn --num_classes 4 --img_size 0 --epochs 1 --threads 1"
                            " --dataset_dir '${SCOUTER_TEST_DATA}' --output_dir '$SCOUTER_TEST_RUNS/a'";
  CommandResult ok = testing::run_command(train);
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  ASSERT_TRUE(file_exists(runs.file("a") + "/summary.json")) << ok.output;
  const std::string toml = read_text_file(runs.file("a") + "/config.toml");
  EXPECT_NE(toml.find("dataset_dir = \"${SCOUTER_TEST_DATA}\"  # \"" + data.path() + "\" on "), std::string::npos) << toml;
  EXPECT_NE(toml.find("output_dir = \"$SCOUTER_TEST_RUNS/a\"  # \"" + runs.file("a") + "\" on "), std::string::npos) << toml;
  CommandResult again = testing::run_command(train + " --resume true");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("is already complete"), std::string::npos) << again.output;

  CommandResult eval = testing::run_command(env + testing::scouter_bin() + " evaluate " + runs.file("a"));
  EXPECT_EQ(eval.exit_code, 0) << eval.output;
  CommandResult unset = testing::run_scouter("evaluate " + runs.file("a"));
  EXPECT_USAGE_ERROR(unset, "dataset_dir: environment variable SCOUTER_TEST_DATA is not set on ");
  EXPECT_NE(unset.output.find("(stored config):"), std::string::npos) << unset.output;
  EXPECT_EQ(testing::run_scouter("evaluate " + runs.file("a") + " --dataset_dir " + data.path()).exit_code, 0);

  // An undefined variable: one line naming where the key was set, the key and the variable.
  EXPECT_USAGE_ERROR(testing::run_command(train + " --stage_dir '${SCOUTER_TEST_NOPE}/s'"),
                     "command line: --stage_dir: environment variable SCOUTER_TEST_NOPE is not set on ");
  testing::write_bytes(runs.file("b.toml"), "epochs = 1\nstage_dir = \"${SCOUTER_TEST_NOPE:-}$SCOUTER_TEST_NOPE\"\n");
  EXPECT_USAGE_ERROR(testing::run_scouter("train -c " + runs.file("b.toml")),
                     runs.file("b.toml") + ":2: stage_dir: environment variable SCOUTER_TEST_NOPE is not set");
}

TEST(Cli, KeysListsEveryConfigKey) {
  CommandResult r = testing::run_scouter("keys --markdown true");
  ASSERT_EQ(r.exit_code, 0);
  for (const char* key : {"lambda_value", "slots_per_class", "loss_status", "to_k_layer", "freeze_layers",
                          "use_pre", "dataset_dir", "output_dir"})
    EXPECT_NE(r.output.find(std::string("`") + key + "`"), std::string::npos) << key;
  // The shard_size key is the IDX datasets' default; its meaning names the image datasets' own.
  const std::string image_default =
      "(image datasets: " + std::to_string(ImagePrepOptions{}.shard_size) + " source images";
  EXPECT_NE(find_key("shard_size")->doc.find(image_default), std::string::npos)
      << find_key("shard_size")->doc;
}

// The plain `scouter keys` table: every key, default and meaning of the Markdown table, each in
// its column, the columns as wide as the longest key and the longest default (keys of 18+
// characters once pushed their default out of line).
TEST(Cli, KeysColumnsFitTheLongestKeyAndDefault) {
  CommandResult md = testing::run_scouter("keys --markdown true");
  CommandResult plain = testing::run_scouter("keys");
  ASSERT_EQ(md.exit_code, 0) << md.output;
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  struct Row {
    std::string key, value, doc;
  };
  std::vector<Row> rows;  // from "| `key` | `value` | doc |"
  size_t longest_key = 0, longest_value = 0;
  std::istringstream md_lines(md.output);
  for (std::string l; std::getline(md_lines, l);) {
    size_t k = l.find("| `"), v = l.find("` | `"), d = l.find("` | ", v + 5);
    if (k != 0 || v == std::string::npos || d == std::string::npos) continue;
    Row r{l.substr(3, v - 3), l.substr(v + 5, d - v - 5), l.substr(d + 4, l.size() - d - 6)};
    longest_key = std::max(longest_key, r.key.size());
    longest_value = std::max(longest_value, r.value.size());
    rows.push_back(r);
  }
  ASSERT_GT(rows.size(), 30u) << md.output;
  ASSERT_GE(longest_key, 18u) << "no long key left to test the alignment with";
  std::set<size_t> value_columns, doc_columns;
  for (const Row& r : rows) {
    SCOPED_TRACE(r.key);
    const size_t at = plain.output.find("\n  " + r.key + " ");
    ASSERT_NE(at, std::string::npos) << plain.output;
    const std::string line = plain.output.substr(at + 1, plain.output.find('\n', at + 1) - at - 1);
    const size_t value = line.find_first_not_of(' ', 2 + r.key.size());
    ASSERT_EQ(line.compare(value, r.value.size(), r.value), 0) << line;
    const size_t doc = line.find_first_not_of(' ', value + r.value.size());
    ASSERT_GT(doc, value + r.value.size()) << line;
    EXPECT_EQ(line.substr(doc), r.doc);
    value_columns.insert(value);
    doc_columns.insert(doc);
  }
  EXPECT_EQ(value_columns.size(), 1u) << plain.output;
  EXPECT_EQ(doc_columns.size(), 1u) << plain.output;
  // As wide as needed, and no wider than two spaces of separation.
  EXPECT_LE(*value_columns.begin(), 2 + longest_key + 2);
  EXPECT_LE(*doc_columns.begin(), *value_columns.begin() + longest_value + 2);
}

// precision is fp32, bf16 or auto, for `scouter bench --precision` as for the config key: any
// other value is one line naming the three, before any work; auto is accepted, and the run's log
// says what it chose on this CPU and why (worker/run/cpu_bf16.h gives the expected answer).
TEST(Cli, PrecisionIsFp32Bf16OrAuto) {
  CommandResult bench = testing::run_scouter("bench --precision fp16 --filter none");
  EXPECT_USAGE_ERROR(bench, "--precision fp16 is not a precision -- hint: valid: fp32, bf16, auto");
  EXPECT_EQ(std::count(bench.output.begin(), bench.output.end(), '\n'), 1) << bench.output;
  CommandResult bench_auto = testing::run_scouter("bench --precision auto --filter none");
  ASSERT_EQ(bench_auto.exit_code, 0) << bench_auto.output;
  EXPECT_NE(bench_auto.output.find("CPU bf16: " + detect_cpu_bf16().describe() + "\n"), std::string::npos)
      << bench_auto.output;

  TempDir data, runs;
  testing::write_bytes(runs.file("fp16.toml"), "epochs = 1\nprecision = \"fp16\"\n");
  CommandResult file = testing::run_scouter("train -c " + runs.file("fp16.toml"));
  EXPECT_USAGE_ERROR(file, runs.file("fp16.toml") + ":2: invalid value \"fp16\" for key 'precision'");
  EXPECT_NE(file.output.find("valid: fp32, bf16, auto"), std::string::npos) << file.output;
  EXPECT_USAGE_ERROR(testing::run_scouter("train --precision BF16"), "invalid value \"BF16\" for key 'precision'");

  testing::write_toy_shards(data.path(), 128, 32, 1, 128);
  testing::write_bytes(runs.file("auto.toml"),
                       "model = \"smallcnn\"\nnum_classes = 4\nimg_size = 0\nepochs = 1\nthreads = 1\n"
                       "precision = \"auto\"\ndataset_dir = \"" + data.path() + "\"\noutput_dir = \"" +
                           runs.file("auto") + "\"\n");
  CommandResult ok = testing::run_scouter("train -c " + runs.file("auto.toml"));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  const CpuBf16 cpu = detect_cpu_bf16();
  const std::string steps = testing::line_with(ok.output, "steps: ");
  EXPECT_NE(steps.find(std::string(cpu.native() ? ", channels_last, bf16 autocast" : ", fp32") +
                       " (precision = auto: " + cpu.describe() + ")"),
            std::string::npos)
      << steps;
  EXPECT_NE(read_text_file(runs.file("auto") + "/config.toml").find("precision = \"auto\""), std::string::npos);
}

}  // namespace
}  // namespace scouter
