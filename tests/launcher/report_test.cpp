// `scouter report` over fake sweeps: run folders written by hand (config.toml, summary.json,
// metrics.jsonl) with explain/ folders in the format of worker/explain/explain.h, so the expected means
// and standard deviations are computed by hand.
#include "launcher/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/files.h"
#include "common/format.h"
#include "common/text.h"
#include "datasets/dataset_info.h"
#include "datasets/image_decode.h"
#include "datasets/image_ops.h"
#include "launcher/report_html.h"
#include "test_util.h"

namespace scouter {
namespace {

using nlohmann::json;
using testing::TempDir;
using testing::line_with;

// area, precision, insertion_auc, deletion_auc, infidelity, sensitivity of one method.
using MethodValues = std::array<json, 6>;

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

class ReportTest : public ::testing::Test {
 protected:
  // A complete two-epoch run of kind "pos" (SCOUTER+), "neg" (SCOUTER-) or "fc".
  std::string make_run(const std::string& name, const std::string& kind) {
    std::string run = dir_.file("study/" + name);
    ensure_dir(run);
    testing::write_bytes(run + "/config.toml",
                         str_format("dataset = \"MNIST\"\nmodel = \"smallcnn\"\nnum_classes = 4\n"
                                    "epochs = 2\nuse_slot = {}\nloss_status = {}\n",
                                    kind == "fc" ? "false" : "true", kind == "neg" ? -1 : 1));
    testing::write_bytes(run + "/metrics.jsonl",
                         "{\"epoch\": 1, \"train_loss\": 1.2, \"val_acc\": 0.7}\n"
                         "{\"epoch\": 2, \"train_loss\": 0.6, \"val_acc\": 0.9}\n");
    testing::write_bytes(run + "/summary.json",
                         "{\"complete\": true, \"final_val_acc\": 0.9, \"best_val_acc\": 0.91, "
                         "\"total_seconds\": 12, \"train_images_per_s\": 800, \"epochs\": 2}");
    return run;
  }

  void write_metrics(const std::string& run, const std::string& kind, int64_t images,
                     const std::map<std::string, MethodValues>& methods,
                     const json& settings = {{"grad_min_level", 0.0}, {"seed", 1}}) {
    json m = {{"run", run},
              {"dataset", "MNIST"},
              {"kind", kind == "pos"   ? "scouter+"
                       : kind == "neg" ? "scouter-"
                                       : "fc"},
              {"images", images},
              {"classes_shown", {0, 1, 2, 3}},
              {"created_by", "scouter test"},
              {"settings", settings},
              {"methods", json::object()}};
    const char* keys[] = {"area",         "precision",  "insertion_auc",
                          "deletion_auc", "infidelity", "sensitivity"};
    for (const auto& [method, v] : methods) {
      json one = {{"precision_images", images}};
      for (int i = 0; i < 6; ++i) one[keys[i]] = v[i];
      m["methods"][method] = one;
    }
    ensure_dir(run + "/explain");
    testing::write_bytes(run + "/explain/metrics.json", m.dump(2));
  }

  // Grid PNGs (a few coloured tiles) for the image indices, and their lines in images.jsonl.
  void write_grids(const std::string& run, const std::vector<std::string>& methods,
                   const std::vector<int>& indices) {
    ensure_dir(run + "/explain/grids");
    std::string lines;
    for (int index : indices) {
      lines += str_format("{{\"index\": {}, \"label\": {}, \"pred\": {}, \"box\": null}}\n", index,
                          index % 4, (index + run.size()) % 4);
      for (size_t m = 0; m < methods.size(); ++m) {
        const int tile = 24, w = 5 * tile, h = tile;
        std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) {
            uint8_t* p = &px[static_cast<size_t>((y * w + x) * 3)];
            p[0] = static_cast<uint8_t>(40 * (x / tile) + 30 * m);
            p[1] = static_cast<uint8_t>(10 * y);
            p[2] = static_cast<uint8_t>(index * 25);
          }
        write_png(str_format("{}/explain/grids/{:05d}_{}.png", run, index, methods[m]), px.data(),
                  w, h, 3);
      }
    }
    testing::write_bytes(run + "/explain/images.jsonl", lines);
  }

  // Two seeds each of SCOUTER+, SCOUTER- and FC, explained; values chosen for round statistics.
  void make_study(bool grids) {
    for (int seed : {1, 2}) {
      double d = seed == 1 ? -1 : 1;  // seed 1 below the mean, seed 2 above
      std::string pos = make_run(str_format("pos_seed{}", seed), "pos");
      write_metrics(pos, "pos", 10,
                    {{"slot",
                      {0.15 + 0.05 * d, 0.6 + 0.1 * d, 0.7 - 0.1 * d, 0.3 + 0.1 * d,
                       0.02 + 0.01 * d, 0.04 + 0.01 * d}}});
      std::string neg = make_run(str_format("neg_seed{}", seed), "neg");
      // Seed 2 has no boxes: precision is null and the mean is over seed 1 alone.
      write_metrics(neg, "neg", 10,
                    {{"slot", {0.5, seed == 1 ? json(0.4) : json(nullptr), 0.5, 0.5, 1.0, 2.0}}});
      std::string fc = make_run(str_format("fc_seed{}", seed), "fc");
      write_metrics(fc, "fc", 10,
                    {{"cam", {0.3, 0.3, 0.3, 0.3, 0.3, 0.3}},
                     {"gradcam", {0.2, 0.2, 0.2, 0.2, 0.2, 0.2}},
                     {"gradcampp", {0.1, 0.1, 0.1, 0.1, 0.1, 0.1}}});
      if (grids) {
        write_grids(pos, {"slot"}, {3, 7});
        write_grids(neg, {"slot"}, {3, 7});
        write_grids(fc, {"cam", "gradcam", "gradcampp"}, {3, 7});
      }
    }
  }

  std::string study() const { return dir_.file("study"); }
  TempDir dir_;
};

TEST_F(ReportTest, MetricsTableIsMeanAndStdOverSeeds) {
  make_study(false);
  std::string out = report_table({study()});
  EXPECT_EQ(line_with(out, "study/pos | SCOUTER+ smallcnn | SCOUTER slots"),
            "| MNIST | study/pos | SCOUTER+ smallcnn | SCOUTER slots | 2 | 10 | 0.1500 ± 0.0707 | "
            "0.6000 ± 0.1414 | 0.7000 ± 0.1414 | 0.3000 ± 0.1414 | 0.02 ± 0.01414 | "
            "0.04 ± 0.01414 |")
      << out;
  EXPECT_EQ(line_with(out, "study/neg | SCOUTER- smallcnn | SCOUTER slots"),
            "| MNIST | study/neg | SCOUTER- smallcnn | SCOUTER slots | 2 | 10 | 0.5000 ± 0.0000 | "
            "0.4000 ± 0.0000 | 0.5000 ± 0.0000 | 0.5000 ± 0.0000 | 1 ± 0 | 2 ± 0 |")
      << out;
  EXPECT_EQ(line_with(out, "| Grad-CAM++ |"),
            "| MNIST | study/fc | FC smallcnn | Grad-CAM++ | 2 | 10 | 0.1000 ± 0.0000 | "
            "0.1000 ± 0.0000 | 0.1000 ± 0.0000 | 0.1000 ± 0.0000 | 0.1 ± 0 | 0.1 ± 0 |")
      << out;
  // Methods in order: Grad-CAM, CAM, Grad-CAM++; every run has metrics, so no hint.
  EXPECT_LT(out.find("| Grad-CAM |"), out.find("| CAM |"));
  EXPECT_LT(out.find("| CAM |"), out.find("| Grad-CAM++ |"));
  EXPECT_EQ(out.find("scouter explain RUN_DIR"), std::string::npos) << out;

  std::string csv = read_text_file(study() + "/report_metrics.csv");
  EXPECT_EQ(line_with(csv, "dataset,"),
            "dataset,setting,kind,method,runs,images,area_mean,area_std,precision_mean,"
            "precision_std,insertion_auc_mean,insertion_auc_std,deletion_auc_mean,"
            "deletion_auc_std,infidelity_mean,infidelity_std,sensitivity_mean,sensitivity_std");
  EXPECT_EQ(line_with(csv, "study/pos"),
            "MNIST,study/pos,SCOUTER+ smallcnn,slot,2,10,0.15,0.0707107,0.6,0.141421,0.7,"
            "0.141421,0.3,0.141421,0.02,0.0141421,0.04,0.0141421");
  EXPECT_EQ(count(csv, "\n"), 6u) << csv;  // header + pos, neg, 3 FC methods
}

// Seeds of one setting explained with other settings (here another input size and image count)
// are two rows, each of one run, never one mean; the text says why.
TEST_F(ReportTest, RunsExplainedWithDifferentSettingsAreNotPooled) {
  make_study(false);
  const std::map<std::string, MethodValues> fc2 = {{"cam", {0.5, 0.5, 0.5, 0.5, 0.5, 0.5}},
                                                   {"gradcam", {0.4, 0.4, 0.4, 0.4, 0.4, 0.4}},
                                                   {"gradcampp", {0.3, 0.3, 0.3, 0.3, 0.3, 0.3}}};
  write_metrics(study() + "/fc_seed1", "fc", 10, fc2,
                {{"img_size", 28}, {"seed", 1}, {"ranks", 1}});
  write_metrics(study() + "/fc_seed2", "fc", 20, fc2,
                {{"img_size", 56}, {"seed", 1}, {"ranks", 2}});
  std::string out = report_table({study()});
  EXPECT_EQ(
      line_with(out, "(images_explained 10, img_size 28) | FC smallcnn | Grad-CAM++"),
      "| MNIST | study/fc (images_explained 10, img_size 28) | FC smallcnn | Grad-CAM++ | 1 | "
      "10 | 0.3000 ± 0.0000 | 0.3000 ± 0.0000 | 0.3000 ± 0.0000 | 0.3000 ± 0.0000 | 0.3 ± 0 "
      "| 0.3 ± 0 |")
      << out;
  EXPECT_NE(line_with(out,
                      "| study/fc (images_explained 20, img_size 56) | FC smallcnn | CAM | 1 "
                      "| 20 |"),
            "")
      << out;
  EXPECT_EQ(count(out, "| study/fc ("), 6u) << out;  // 3 methods x 2 settings; ranks do not count
  EXPECT_NE(out.find("study/fc: its runs were explained with different settings "
                     "(images_explained, img_size); the metrics table shows one row per "
                     "settings, not pooled"),
            std::string::npos)
      << out;
  // Two seeds explained alike still pool, whatever the number of ranks.
  write_metrics(study() + "/fc_seed2", "fc", 10, fc2,
                {{"img_size", 28}, {"seed", 1}, {"ranks", 2}});
  out = report_table({study()});
  EXPECT_NE(line_with(out, "| MNIST | study/fc | FC smallcnn | CAM | 2 | 10 |"), "") << out;
  EXPECT_EQ(out.find("different settings"), std::string::npos) << out;
}

TEST_F(ReportTest, RunsWithoutExplainAreAbsentAndTheTextSaysHow) {
  make_study(false);
  remove_tree(study() + "/pos_seed2/explain");
  remove_tree(study() + "/neg_seed1/explain");
  remove_tree(study() + "/neg_seed2/explain");
  std::string out = report_table({study()});
  EXPECT_NE(line_with(out, "SCOUTER+ smallcnn | SCOUTER slots | 1 | 10 | 0.1000 ± 0.0000"), "")
      << out;
  EXPECT_EQ(line_with(out, "SCOUTER- smallcnn | SCOUTER slots"), "") << out;
  EXPECT_NE(out.find("3 of 6 runs have no explanation metrics; scouter explain RUN_DIR"),
            std::string::npos)
      << out;
  std::string csv = read_text_file(study() + "/report_metrics.csv");
  EXPECT_EQ(count(csv, "SCOUTER-"), 0u) << csv;
}

TEST_F(ReportTest, MalformedMetricsJsonWarnsAndKeepsTheRun) {
  make_study(false);
  testing::write_bytes(study() + "/neg_seed1/explain/metrics.json", "{\"images\": 10, \"meth");
  std::string bad_value = study() + "/fc_seed2/explain/metrics.json";
  std::string text = read_text_file(bad_value);
  testing::write_bytes(bad_value,
                       std::regex_replace(text, std::regex("\"area\": 0.3"), "\"area\": \"high\""));
  std::string out = report_table({study()});
  std::string w1 = line_with(out, "warning: " + study() + "/neg_seed1/explain/metrics.json");
  EXPECT_NE(w1.find("malformed"), std::string::npos) << out;
  EXPECT_NE(w1.find("scouter explain " + study() + "/neg_seed1"), std::string::npos) << w1;
  EXPECT_NE(line_with(out, "warning: " + bad_value).find("\"cam\".\"area\" is not a number"),
            std::string::npos)
      << out;
  // Both runs stay in the runs table; the metrics come from the other seed alone.
  EXPECT_NE(out.find("| " + study() + "/neg_seed1 | SCOUTER- smallcnn | 90.00"), std::string::npos);
  EXPECT_NE(line_with(out, "| SCOUTER- smallcnn | SCOUTER slots | 1 | 10 |"), "") << out;
  EXPECT_NE(line_with(out, "| FC smallcnn | CAM | 1 | 10 |"), "") << out;
}

TEST_F(ReportTest, HtmlHasTablesCurvesAndOneDataUriPerGrid) {
  make_study(true);
  std::string out = report_table({study()}, ReportOptions{true});
  EXPECT_NE(out.find(study() + "/report.html"), std::string::npos) << out;
  std::string html = read_text_file(study() + "/report.html");
  for (const char* id : {"settings-table", "runs-table", "metrics-table"})
    EXPECT_NE(html.find(std::string("<table id=\"") + id + "\">"), std::string::npos) << id;
  EXPECT_NE(html.find("<svg width="), std::string::npos);
  EXPECT_NE(html.find("<td>0.1500 ± 0.0707</td>"), std::string::npos);
  // 2 images x (2 + 2 SCOUTER runs x 1 map + 2 FC runs x 3 methods).
  EXPECT_EQ(count(html, "<img src=\"data:image/png;base64,iVBOR"), 2u * 10u);
  EXPECT_EQ(count(html, "<img "), 2u * 10u);
  EXPECT_EQ(count(html, "\"why-not\">maps show why NOT each class"), 2u * 2u);
  EXPECT_NE(html.find("true 3 · "), std::string::npos);
  // Row order: SCOUTER+, SCOUTER-, then FC Grad-CAM, CAM, Grad-CAM++.
  std::vector<size_t> at;
  for (const char* alt :
       {"pos_seed1, slot", "pos_seed2, slot", "neg_seed1, slot", "fc_seed1, gradcam",
        "fc_seed1, cam", "fc_seed1, gradcampp", "fc_seed2, gradcam"})
    at.push_back(html.find(std::string("alt=\"image 00003, ") + alt + "\""));
  for (size_t i = 0; i < at.size(); ++i) EXPECT_NE(at[i], std::string::npos) << i;
  EXPECT_TRUE(std::is_sorted(at.begin(), at.end()));
  EXPECT_LT(at.back(), html.find("image 00007"));
  // Nothing to fetch: no URL outside the embedded pictures.
  std::string text = std::regex_replace(html, std::regex("base64,[A-Za-z0-9+/=]+"), "base64,");
  EXPECT_EQ(text.find("http"), std::string::npos);
  EXPECT_EQ(text.find("src=\"/"), std::string::npos);
  EXPECT_EQ(text.find("<script"), std::string::npos);
}

TEST_F(ReportTest, HtmlGalleryIsLimitedAndTextIsEscaped) {
  std::string run = make_run("x<y>&z_seed1", "pos");
  write_metrics(run, "pos", 12, {{"slot", {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}}});
  write_grids(run, {"slot"}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  report_table({study()}, ReportOptions{true});
  std::string html = read_text_file(study() + "/report.html");
  EXPECT_EQ(count(html, "<img "), kGalleryImages);
  EXPECT_NE(html.find("8 of 12 pictured images shown, from 1 run(s)"), std::string::npos);
  EXPECT_NE(html.find("image 00007"), std::string::npos);
  EXPECT_EQ(html.find("image 00008"), std::string::npos);
  EXPECT_NE(html.find("x&lt;y&gt;&amp;z_seed1"), std::string::npos);
  EXPECT_EQ(html.find("x<y>"), std::string::npos);
  EXPECT_EQ(html_escape("a<b>\"c\"&'d'"), "a&lt;b&gt;&quot;c&quot;&amp;&#39;d&#39;");
}

// The page as a browser sees it: headless Chromium loads a copy of report.html with a test-only
// script that, on load, writes into the DOM how many images decoded and how many table rows
// there are; the page itself has no script, so any console message is a failure.
TEST_F(ReportTest, HtmlLoadsInHeadlessChromium) {
  auto which = testing::run_command("command -v chromium");
  if (which.exit_code != 0)
    FAIL() << "chromium not found on PATH: this test needs a headless browser "
              "(scripts/install_deps.sh installs Debian's chromium)";
  std::string chromium = line_with(which.output, "chromium");
  make_study(true);
  report_table({study()}, ReportOptions{true});
  std::string html = read_text_file(study() + "/report.html");
  const char* check = R"(<pre id="check">pending</pre>
<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  const rows = id => document.querySelectorAll('#' + id + ' tbody tr').length;
  document.getElementById('check').textContent =
      'images ' + images.length + ' loaded ' + loaded + ' settings ' + rows('settings-table') +
      ' runs ' + rows('runs-table') + ' metrics ' + rows('metrics-table') +
      ' svg ' + document.querySelectorAll('svg').length;
});
</script>
</body>)";
  auto end = html.rfind("</body>");
  ASSERT_NE(end, std::string::npos);
  testing::write_bytes(dir_.file("checked.html"), html.substr(0, end) + check);

  std::string browser = chromium + " --headless=new --no-sandbox --disable-gpu " +
                        "--enable-logging=stderr --v=0 --user-data-dir=" + dir_.file("profile") +
                        " --virtual-time-budget=5000";
  auto dump = testing::run_command("(timeout 120 " + browser + " --dump-dom file://" +
                                   dir_.file("checked.html") + " > " + dir_.file("dom.html") +
                                   " 2> " + dir_.file("chromium.log") + ")");
  std::string log = read_text_file(dir_.file("chromium.log"));
  ASSERT_EQ(dump.exit_code, 0) << dump.output << log;
  std::string dom = read_text_file(dir_.file("dom.html"));
  EXPECT_NE(
      dom.find("<pre id=\"check\">images 20 loaded 20 settings 3 runs 6 metrics 5 svg 1</pre>"),
      std::string::npos)
      << line_with(dom, "id=\"check\"");
  // Chromium logs every console message (errors and uncaught exceptions included) as a line
  // with ":CONSOLE" and the message; the level is not told apart, so any such line fails.
  EXPECT_EQ(line_with(log, ":CONSOLE"), "");
  EXPECT_EQ(line_with(log, "Uncaught"), "");

  std::string shot = dir_.file("report.png");
  auto screenshot = testing::run_command("(timeout 120 " + browser + " --hide-scrollbars " +
                                         "--window-size=1280,2000 --screenshot=" + shot +
                                         " file://" + study() + "/report.html > /dev/null)");
  ASSERT_EQ(screenshot.exit_code, 0) << screenshot.output;
  ASSERT_TRUE(file_exists(shot));
  // The picture is the window (--window-size), and the page is drawn in it, not blank: its
  // white background leaves room for content, and the page's own colours cover what its first
  // tables need at least: the header shade (the settings and runs tables above the curves and
  // the runs, each header row at least 15 px x 300 px), the even-row shade (the runs table's 3
  // even rows), the text colour, and many distinct colours (antialiased text, the curves).
  RgbImage png;
  std::vector<uint8_t> scratch;
  decode_image_file(shot, &png, &scratch);
  ASSERT_EQ(png.width, 1280);
  ASSERT_EQ(png.height, 2000);
  const size_t plane = static_cast<size_t>(png.width) * static_cast<size_t>(png.height);
  std::map<uint32_t, size_t> colours;
  for (size_t i = 0; i < plane; ++i)
    ++colours[(uint32_t{png.planar[i]} << 16) | (uint32_t{png.planar[plane + i]} << 8) |
              png.planar[2 * plane + i]];
  auto pixels = [&](uint32_t rgb) { return colours.count(rgb) ? colours[rgb] : size_t{0}; };
  EXPECT_LT(pixels(0xffffff), plane * 95 / 100) << "the page is (almost) blank";
  EXPECT_GE(pixels(0xeeeeff), 2u * 15 * 300) << "table headers (th: #eef)";
  EXPECT_GE(pixels(0xf8f8f8), 3u * 15 * 300) << "even table rows (#f8f8f8)";
  EXPECT_GE(pixels(0x222222), 1000u) << "text (#222)";
  EXPECT_GE(colours.size(), 50u);
  // Kept in the test's working folder for a person to look at.
  std::filesystem::copy_file(shot, "report_html_screenshot.png",
                             std::filesystem::copy_options::overwrite_existing);
}

TEST_F(ReportTest, CommandLineTakesHtmlAsFlagOrTrue) {
  make_study(true);
  auto r = testing::run_command(testing::scouter_bin() + " report " + study() + " --html true");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(file_exists(study() + "/report.html"));
  EXPECT_TRUE(file_exists(study() + "/report_metrics.csv"));
  // A bare --html is a flag, before or after the folders.
  std::filesystem::remove(study() + "/report.html");
  r = testing::run_command(testing::scouter_bin() + " report --html " + study());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(file_exists(study() + "/report.html"));
  std::filesystem::remove(study() + "/report.html");
  r = testing::run_command(testing::scouter_bin() + " report " + study() + " --html");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(file_exists(study() + "/report.html"));
  r = testing::run_command(testing::scouter_bin() + " report " + study() + " --html=maybe");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--html must be true or false"), std::string::npos) << r.output;
}

// The gallery names classes from each run's dataset.json, so no dataset folder is needed:
// Fashion-MNIST's names, ImageNet's wnid with its first words; a damaged file is a warning
// naming it, and that run's captions give indices.
TEST_F(ReportTest, HtmlGalleryNamesClassesFromTheRunsDatasetJson) {
  auto run_of = [&](const std::string& name, const std::string& dataset) {
    std::string run = make_run(name, "pos");
    testing::write_bytes(run + "/config.toml",
                         str_format("dataset = \"{}\"\nmodel = \"smallcnn\"\nnum_classes = 4\n"
                                    "epochs = 2\nuse_slot = true\n",
                                    dataset));
    write_metrics(run, "pos", 2, {{"slot", {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}}});
    write_grids(run, {"slot"}, {3});  // true class 3
    return run;
  };
  const std::string fashion = run_of("fashion_seed1", "FashionMNIST");
  DatasetInfo fashion_info = *dataset_info_from_table("FashionMNIST", 10, 0);
  write_dataset_info(fashion, fashion_info);
  const std::string imagenet = run_of("imagenet_seed1", "ImageNet");
  DatasetInfo imagenet_info = *dataset_info_from_table("ImageNet", 4, 0);
  imagenet_info.class_names = {"n01440764", "n01443537", "n01484850", "n01491361"};
  imagenet_info.class_descriptions = {"tench, Tinca tinca", "goldfish, Carassius auratus",
                                      "great white shark", "tiger shark, Galeocerdo cuvieri"};
  write_dataset_info(imagenet, imagenet_info);
  const std::string broken = run_of("broken_seed1", "CUB200");
  testing::write_bytes(broken + "/dataset.json", "{\"format\": 1}");

  report_table({study()}, ReportOptions{true});
  std::string html = read_text_file(study() + "/report.html");
  auto caption = [&](const std::string& run, const std::string& t, const std::string& p) {
    const int64_t pred = static_cast<int64_t>((3 + run.size()) % 4);  // write_grids' pred
    return str_format("true {} · <span class=\"{}\">pred {}</span>", t,
                      pred == 3 ? "right" : "wrong", p.empty() ? std::to_string(pred) : p);
  };
  const int64_t fashion_pred = static_cast<int64_t>((3 + fashion.size()) % 4);
  EXPECT_NE(html.find(caption(fashion, "3 Dress", class_label(fashion_info, fashion_pred))),
            std::string::npos)
      << html;
  const int64_t imagenet_pred = static_cast<int64_t>((3 + imagenet.size()) % 4);
  EXPECT_NE(html.find(caption(imagenet, "3 n01491361 tiger shark",
                              class_label(imagenet_info, imagenet_pred))),
            std::string::npos);
  EXPECT_NE(html.find(caption(broken, "3", "")), std::string::npos);
  EXPECT_NE(html.find("<div class=\"warning\">classes by index: &#39;" + broken +
                      "/dataset.json&#39;: &quot;format&quot; must be a non-empty string"),
            std::string::npos)
      << html;
}

}  // namespace
}  // namespace scouter
