// The experiment files (experiments/*.toml, every file the folder holds) cannot rot: each one
// expands (dry run, locally and as Slurm job scripts, also at smoke size); each one runs end to
// end at its smoke size (`--smoke true`) on generated data in its dataset's real raw layout,
// through `scouter prep` into the folder it names, with random timm-named weights at the path it
// names, training, explaining and `scouter report`; docs/reproduce.md names the same folders,
// class counts, sweep commands and weights files; the published matrix is what the paper ran.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "common/files.h"
#include "common/format.h"
#include "common/sweep.h"
#include "common/text.h"
#include "datasets/layout_fixture.h"
#include "docs_markdown.h"
#include "test_util.h"
#include "worker/model/backbone.h"
#include "worker/model/safetensors.h"

namespace scouter {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;

std::vector<std::string> experiment_files() {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(testing::source_dir() + "/experiments"))
    if (e.path().extension() == ".toml") v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = fs::path(info.param).stem().string();
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

// `scouter ARGS` run in folder `cwd` (the experiment files name folders relative to it).
CommandResult scouter_in(const std::string& cwd, const std::string& args) {
  return testing::run_command("cd '" + cwd + "' && " + testing::scouter_bin() + " " + args);
}
// A shell command run in folder `cwd`.
CommandResult run_in(const std::string& cwd, const std::string& command) {
  return testing::run_command("cd '" + cwd + "' && " + command);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

Sweep load_file(const std::string& file, const std::string& dir, bool smoke) {
  SweepOverrides o;
  o.smoke = smoke;
  return load_sweep(file, dir, {}, {}, o);
}

std::set<std::string> named_runs(const Sweep& s) {
  std::set<std::string> v;
  for (const auto& r : s.runs) v.insert(r.run);
  return v;
}

class ExperimentFile : public ::testing::TestWithParam<std::string> {};

// Both sizes expand locally and as Slurm job scripts (one per named run), from any folder; sinfo
// is a stand-in that reports 16-core nodes (a real one without a controller waits ~10 s).
TEST_P(ExperimentFile, ExpandsAsDryRunLocallyAndForSlurm) {
  testing::TempDir work;
  ensure_dir(work.file("bin"));
  testing::write_bytes(work.file("bin/sinfo"), "#!/bin/sh\nprintf 'debug* 16\\n'\n");
  ASSERT_EQ(testing::run_command("chmod +x " + work.file("bin/sinfo")).exit_code, 0);
  for (const std::string smoke : {"", " --smoke true"}) {
    const Sweep s = load_file(GetParam(), "", !smoke.empty());
    CommandResult r = scouter_in(work.path(), "sweep " + GetParam() + " --dry-run true" + smoke);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(str_format("{} runs in {}", s.runs.size(), s.dir)), std::string::npos)
        << r.output;
    for (const auto& run : s.runs)
      EXPECT_NE(r.output.find("  " + run.name + "\n"), std::string::npos) << run.name;
    r = run_in(work.path(), "PATH=" + work.file("bin") + ":$PATH " + testing::scouter_bin() +
                                " sweep " + GetParam() + " --dry-run true --slurm true" + smoke);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(count(r.output, "==> "), named_runs(s).size()) << r.output;
    // The job scripts carry the overridden values: time, GPUs, the explain step's images.
    std::map<std::string, const SweepRun*> first;
    for (const auto& run : s.runs) first.emplace(run.run, &run);
    size_t gpu_jobs = 0;
    for (const auto& [name, run] : first) {
      gpu_jobs += run->resources.gpus_per_node > 0 ? 1 : 0;
      EXPECT_NE(r.output.find("#SBATCH --time=" + run->resources.time_limit + "\n"),
                std::string::npos)
          << name;
    }
    EXPECT_EQ(count(r.output, "#SBATCH --gres=gpu:"), gpu_jobs) << r.output;
    if (s.explain_images > 0) {
      EXPECT_EQ(count(r.output, str_format(" --images {} ", s.explain_images)), first.size())
          << r.output;
    }
  }
}

// ---- generated raw datasets, in the layouts the converters read (docs/datasets.md) ----

const char* kImages[] = {"rgb.jpg", "gray.jpg", "cmyk.jpg", "rgb.png", "rgba.png", "small.png"};

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

// The four IDX files: 8 train and 4 test 28x28 images of varying bytes, labels 0..classes-1.
void write_idx(const std::string& src, int64_t classes) {
  ensure_dir(src);
  for (const auto& [prefix, n] : {std::pair<std::string, uint32_t>{"train", 8}, {"t10k", 4}}) {
    std::string images = be32(0x803) + be32(n) + be32(28) + be32(28),
                labels = be32(0x801) + be32(n);
    for (uint32_t i = 0; i < n; ++i) {
      for (uint32_t p = 0; p < 784; ++p) images += char((i * 37 + p * 11) % 256);
      labels += char(i % classes);
    }
    testing::write_bytes(src + "/" + prefix + "-images-idx3-ubyte", images);
    testing::write_bytes(src + "/" + prefix + "-labels-idx1-ubyte", labels);
  }
}

// Kaggle's ImageNet: classes+1 wnids (the converter keeps the first `classes`), 2 train and 1 val
// images each, the val solution with boxes and the readable names.
void write_imagenet(const std::string& src, int64_t classes) {
  const std::string cls_loc = src + "/ILSVRC/Data/CLS-LOC";
  std::string solution = "ImageId,PredictionString\n", names;
  int val = 0;
  for (int64_t c = 0; c <= classes; ++c) {
    const std::string wnid = str_format("n0100000{}", c + 1);
    names += wnid + " class " + std::to_string(c) + "\n";
    for (int i = 0; i < 2; ++i)
      testing::place_image(kImages[i + c % 3],
                           str_format("{}/train/{}/{}_{}.JPEG", cls_loc, wnid, wnid, i));
    const std::string id = str_format("ILSVRC2012_val_{:08d}", ++val);
    testing::place_image(kImages[3 + c % 3], cls_loc + "/val/" + id + ".JPEG");
    solution += id + "," + wnid + " 1 1 5 5\n";
  }
  testing::write_text(src + "/LOC_val_solution.csv", solution);
  testing::write_text(src + "/LOC_synset_mapping.txt", names);
}

// CUB-200-2011: classes+1 species of 3 images (2 train, 1 test), with boxes.
void write_cub(const std::string& src, int64_t classes) {
  std::string list, labels, split, boxes, names;
  int id = 0;
  for (int64_t c = 1; c <= classes + 1; ++c) {
    const std::string folder = str_format("{:03d}.Species_{}", c, c);
    names += str_format("{} {}\n", c, folder);
    for (int i = 0; i < 3; ++i) {
      const std::string rel = str_format("{}/{}.jpg", folder, i);
      testing::place_image(kImages[i + 3 * (c % 2)], src + "/images/" + rel);
      ++id;
      list += str_format("{} {}\n", id, rel);
      labels += str_format("{} {}\n", id, c);
      split += str_format("{} {}\n", id, i % 3 == 2 ? 0 : 1);
      boxes += str_format("{} 1.0 1.0 5.0 5.0\n", id);
    }
  }
  testing::write_text(src + "/images.txt", list);
  testing::write_text(src + "/image_class_labels.txt", labels);
  testing::write_text(src + "/train_test_split.txt", split);
  testing::write_text(src + "/bounding_boxes.txt", boxes);
  testing::write_text(src + "/classes.txt", names);
}

// Con-Text: one folder of images named <category>_<n>, `classes` categories of 4 each.
void write_context(const std::string& src, int64_t classes) {
  for (int64_t c = 0; c < classes; ++c)
    for (int i = 0; i < 4; ++i) {
      const int k = static_cast<int>(i + c) % 6;
      testing::place_image(kImages[k],
                           str_format("{}/Category{}_{}{}", src, c, i, k < 3 ? ".jpg" : ".png"));
    }
}

struct RawLayout {
  std::function<void(const std::string& src, int64_t classes)> write;
  bool images;  // an image dataset: prep takes --num_classes and --img_size
};

// One row per dataset an experiment file may name; a file naming another fails until it has one.
const std::map<std::string, RawLayout>& raw_layouts() {
  static const std::map<std::string, RawLayout> m = {{"MNIST", {write_idx, false}},
                                                     {"FashionMNIST", {write_idx, false}},
                                                     {"ImageNet", {write_imagenet, true}},
                                                     {"CUB200", {write_cub, true}},
                                                     {"ConText", {write_context, true}}};
  return m;
}

// Random weights under timm's names (the backbone's parameters and buffers, with timm's
// 1000-class fc and 3-channel stem), as a downloaded timm .safetensors file holds them.
void write_timm_weights(const std::string& model, const std::string& path) {
  torch::manual_seed(1);
  auto bb = make_backbone(model, 3, 1000);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : bb->named_parameters()) tensors.emplace_back(p.key(), p.value().detach());
  for (const auto& b : bb->named_buffers()) tensors.emplace_back(b.key(), b.value().detach());
  fs::create_directories(fs::path(path).parent_path());
  write_safetensors(path, tensors);
}

// The cells of the body rows of report.html's table `id` ("runs-table"), unescaped.
std::vector<std::vector<std::string>> html_rows(const std::string& html, const std::string& id) {
  std::vector<std::vector<std::string>> rows;
  const size_t table = html.find("<table id=\"" + id + "\">");
  if (table == std::string::npos) return rows;
  const size_t body = html.find("<tbody>", table), end = html.find("</tbody>", table);
  static const std::regex row("<tr>(.*?)</tr>"), cell("<td[^>]*>(.*?)</td>");
  const std::string text = html.substr(body, end - body);
  for (std::sregex_iterator r(text.begin(), text.end(), row), stop; r != stop; ++r) {
    const std::string cells = (*r)[1].str();
    rows.emplace_back();
    for (std::sregex_iterator c(cells.begin(), cells.end(), cell); c != stop; ++c) {
      std::string v = (*c)[1].str();
      for (auto [from, to] : {std::pair{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""},
                              {"&#39;", "'"}, {"&amp;", "&"}})
        for (size_t at = v.find(from); at != std::string::npos; at = v.find(from, at + 1))
          v.replace(at, std::string(from).size(), to);
      rows.back().push_back(v);
    }
  }
  return rows;
}

// report.html's tables hold the sweep's runs and no others, each with the accuracy its training
// wrote (summary.json, and the last line of metrics.jsonl, agreeing), its kind and epochs, and
// complete; the settings table one row per setting, the explanation metrics each setting's.
// `dir`: the sweep folder (s.dir from the working folder).
void expect_report_holds_the_runs(const Sweep& s, const std::string& dir) {
  const std::string html = read_text_file(dir + "/report.html");
  const auto runs = html_rows(html, "runs-table");
  ASSERT_EQ(runs.size(), s.runs.size()) << html;
  std::set<std::string> settings, datasets;
  for (const auto& run : s.runs) {
    const std::string folder = fs::path(s.dir).filename().string();
    settings.insert(folder + "/" + run.setting);
    datasets.insert(run.config.dataset);
    auto row = std::find_if(runs.begin(), runs.end(), [&](const auto& cells) {
      return !cells.empty() && fs::path(cells[0]) == fs::path(s.dir) / run.name;
    });
    ASSERT_NE(row, runs.end()) << run.name << " has no row in the runs table";
    ASSERT_EQ(row->size(), 9u) << run.name;  // run, kind, val acc %, best acc %, area, epochs, ...
    const std::string run_dir = dir + "/" + run.name;
    const auto summary = nlohmann::json::parse(read_text_file(run_dir + "/summary.json"));
    const double final_acc = summary.at("final_val_acc"), best_acc = summary.at("best_val_acc");
    std::vector<std::string> lines = split(read_text_file(run_dir + "/metrics.jsonl"), '\n');
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    ASSERT_FALSE(lines.empty()) << run.name << ": empty metrics.jsonl";
    const auto last = nlohmann::json::parse(lines.back());
    EXPECT_EQ(last.at("val_acc").get<double>(), final_acc) << run.name;
    EXPECT_GE(final_acc, 0.0) << run.name;
    EXPECT_LE(final_acc, best_acc) << run.name;
    EXPECT_LE(best_acc, 1.0) << run.name;
    const Config& c = run.config;
    const std::string kind = !c.use_slot ? "FC" : c.loss_status > 0 ? "SCOUTER+" : "SCOUTER-";
    EXPECT_EQ((*row)[1], kind + " " + c.model) << run.name;
    EXPECT_EQ((*row)[2], str_format("{:.2f}", final_acc * 100)) << run.name;
    EXPECT_EQ((*row)[3], str_format("{:.2f}", best_acc * 100)) << run.name;
    EXPECT_EQ((*row)[5], str_format("{}/{}", c.epochs, c.epochs)) << run.name;
    EXPECT_EQ((*row)[8], "complete") << run.name;
  }
  std::set<std::string> shown;
  for (const auto& row : html_rows(html, "settings-table")) {
    ASSERT_GE(row.size(), 4u);
    EXPECT_EQ(datasets.count(row[0]), 1u) << row[0];
    EXPECT_TRUE(shown.insert(row[1]).second) << row[1] << " twice";
    static const std::regex all_complete("([0-9]+)/\\1 complete");
    EXPECT_TRUE(std::regex_match(row[3], all_complete)) << row[1] << ": " << row[3];
  }
  EXPECT_EQ(shown, settings);
  if (s.explain_images > 0) {
    std::set<std::string> explained;
    for (const auto& row : html_rows(html, "metrics-table")) explained.insert(row.at(1));
    EXPECT_EQ(explained, settings);
  }
}

// prep (into the file's folders, relative to the working folder), weights at the file's path,
// `scouter sweep FILE --smoke true` (train + explain), then `scouter report --html true`, whose
// tables must hold the file's runs (expect_report_holds_the_runs).
TEST_P(ExperimentFile, RunsEndToEndAtSmokeSize) {
  testing::TempDir work;
  const Sweep s = load_file(GetParam(), "", true);
  std::set<std::string> prepared, weights;
  for (const auto& run : s.runs) {
    const Config& c = run.config;
    auto layout = raw_layouts().find(c.dataset);
    ASSERT_NE(layout, raw_layouts().end())
        << "no generated layout for dataset " << c.dataset << ": add a row to raw_layouts()";
    if (prepared.insert(c.dataset_dir).second) {
      const std::string src = work.file("raw/" + c.dataset);
      layout->second.write(src, c.num_classes);
      std::string args = str_format("prep {} --src {} --out {}", c.dataset, src, c.dataset_dir);
      if (layout->second.images)
        args += str_format(" --num_classes {} --img_size {}", c.num_classes, c.img_size);
      CommandResult r = scouter_in(work.path(), args);
      ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    }
    if (!c.pretrained.empty() && weights.insert(c.pretrained).second)
      write_timm_weights(c.model, work.file(c.pretrained));
  }
  CommandResult r = scouter_in(work.path(), "sweep " + GetParam() + " --smoke true");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string dir = work.file(s.dir);
  for (const auto& run : s.runs) {
    EXPECT_TRUE(fs::exists(dir + "/" + run.name + "/summary.json")) << run.name << "\n" << r.output;
    if (s.explain_images > 0) {
      EXPECT_TRUE(fs::exists(dir + "/" + run.name + "/explain/metrics.json")) << run.name;
    }
    // device = "auto" on a build without CUDA: one warning line, and the run goes on on the CPU.
    const std::string log = read_text_file(dir + "/" + run.name + "/train.log");
    if (run.config.device == "auto" && !torch::cuda::is_available()) {
      EXPECT_EQ(
          count(log,
                "device = \"auto\": this LibTorch has no CUDA or sees no GPU; running on the CPU"),
          1u)
          << log;
    }
    if (!run.config.pretrained.empty()) {
      EXPECT_NE(log.find(run.config.pretrained), std::string::npos) << log;
    }
  }
  r = scouter_in(work.path(), "report " + s.dir + " --html true");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& run : s.runs)
    EXPECT_NE(r.output.find(run.name), std::string::npos) << run.name << "\n" << r.output;
  expect_report_holds_the_runs(s, dir);
}

INSTANTIATE_TEST_SUITE_P(Experiments, ExperimentFile, ::testing::ValuesIn(experiment_files()),
                         param_name);

// ---- docs/reproduce.md names what the files name ----

struct GuideCommands {
  std::vector<std::vector<std::string>> prep;  // words of each `scouter prep` line
  std::set<std::string> sweeps;                // FILE of each `scouter sweep FILE` line
  std::string text;
};

GuideCommands guide_commands() {
  GuideCommands g;
  g.text = testing::markdown::read_text(testing::source_dir() + "/docs/reproduce.md");
  for (const auto& f : testing::markdown::fenced_blocks(g.text)) {
    if (f.info != "sh") continue;
    for (const std::string& line : testing::markdown::split_lines(f.body)) {
      std::vector<std::string> words;
      for (const std::string& w : split(line, ' '))
        if (!w.empty()) words.push_back(w);
      auto at = std::find(words.begin(), words.end(), "scouter");
      if (at == words.end() || ++at == words.end()) continue;
      if (*at == "prep") g.prep.emplace_back(at + 1, words.end());
      if (*at == "sweep" && at + 1 != words.end()) g.sweeps.insert(*(at + 1));
    }
  }
  return g;
}

std::string option(const std::vector<std::string>& words, const std::string& name) {
  auto it = std::find(words.begin(), words.end(), name);
  return it == words.end() || it + 1 == words.end() ? "" : *(it + 1);
}

// The guide's convention: for each experiment file a ```sh line `scouter prep <Dataset> --src ...
// --out <dataset_dir> [--num_classes N]` (N required where the converter keeps the first N
// classes), a line `scouter sweep experiments/<file>.toml`, and its weights file named.
TEST(ReproduceGuide, NamesTheFoldersClassesSweepsAndWeightsOfEveryExperimentFile) {
  const GuideCommands g = guide_commands();
  ASSERT_FALSE(g.text.empty()) << "docs/reproduce.md is missing";
  for (const std::string& file : experiment_files()) {
    const std::string rel = "experiments/" + fs::path(file).filename().string();
    EXPECT_TRUE(g.sweeps.count(rel))
        << "docs/reproduce.md has no line `scouter sweep " << rel << "`";
    for (const auto& run : load_file(file, "", false).runs) {
      const Config& c = run.config;
      bool found = false;
      for (const auto& words : g.prep) {
        if (words.empty() || words[0] != c.dataset || option(words, "--out") != c.dataset_dir)
          continue;
        found = true;
        const std::string n = option(words, "--num_classes");
        const bool needs_n = c.dataset == "ImageNet" || c.dataset == "CUB200";
        EXPECT_TRUE(n == std::to_string(c.num_classes) || (n.empty() && !needs_n))
            << rel << ": the guide's prep into " << c.dataset_dir << " gives --num_classes '" << n
            << "', the file num_classes = " << c.num_classes;
      }
      EXPECT_TRUE(found) << rel << " (" << run.name
                         << "): docs/reproduce.md has no ```sh line `scouter prep " << c.dataset
                         << " --src ... --out " << c.dataset_dir << "`";
      if (!c.pretrained.empty()) {
        EXPECT_NE(g.text.find(c.pretrained), std::string::npos)
            << rel << ": docs/reproduce.md does not name its weights file " << c.pretrained;
      }
      if (!found || ::testing::Test::HasFailure()) break;  // one message per file
    }
  }
}

// ---- the published run matrix (the paper's tables; README and docs/reproduce.md) ----

TEST(PublishedMatrix, ImageNetIsTheFirst100ClassesAtThreeLambdasAndThreeSeeds) {
  const Sweep s = load_file(testing::source_dir() + "/experiments/imagenet.toml", "", false);
  std::multiset<std::string> settings;
  for (const auto& r : s.runs) {
    const Config& c = r.config;
    EXPECT_EQ(c.num_classes, 100);
    EXPECT_EQ(c.model, "resnest26d");
    EXPECT_EQ(c.img_size, 260);
    EXPECT_EQ(c.batch_size, 70);
    EXPECT_EQ(c.epochs, 20);
    EXPECT_EQ(c.freeze_layers, 0);
    if (c.use_slot) {
      EXPECT_EQ(c.slots_per_class, 1);
      EXPECT_EQ(c.power, 2);
      EXPECT_EQ(c.to_k_layer, 3);
    }
    settings.insert(c.use_slot ? str_format("{}:{}", c.loss_status, c.lambda_value) : "fc");
  }
  std::multiset<std::string> expected;
  for (int seed = 1; seed <= 3; ++seed) {
    expected.insert("fc");
    for (const char* lambda : {"1", "3", "10"})
      for (const char* sign : {"1", "-1"}) expected.insert(str_format("{}:{}", sign, lambda));
  }
  EXPECT_EQ(settings, expected);
  EXPECT_GT(s.explain_images, 0);
}

// Every file of the published matrix picks its device (auto) and runs 3 seeds of each setting.
TEST(PublishedMatrix, EveryFileRunsThreeSeedsOnTheDeviceThereIs) {
  for (const std::string& file : experiment_files()) {
    const Sweep s = load_file(file, "", false);
    if (s.runs.front().config.pretrained.empty()) continue;  // the CPU quickstart
    std::map<std::string, std::set<int64_t>> seeds;
    for (const auto& r : s.runs) {
      EXPECT_EQ(r.config.device, "auto") << file << " " << r.name;
      seeds[r.setting].insert(r.config.seed);
    }
    for (const auto& [setting, v] : seeds)
      EXPECT_EQ(v, (std::set<int64_t>{1, 2, 3})) << file << " " << setting;
  }
}

}  // namespace
}  // namespace scouter
