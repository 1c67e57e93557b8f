// `scouter report` beside the published numbers: run folders written by hand (config.toml,
// summary.json, explain/metrics.json) in settings the built-in reference file covers, with values
// chosen as the reference's own plus or minus set offsets, so every expected difference and mark
// follows from the inputs.
#include "launcher/report_reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/format.h"
#include "common/text.h"
#include "launcher/report.h"
#include "test_util.h"
#include "worker/explain/metric_spec.h"

namespace scouter {
namespace {

using nlohmann::json;
using testing::TempDir;

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

// The lines of `text` that contain every one of `needles`.
std::vector<std::string> lines_with(const std::string& text,
                                    const std::vector<std::string>& needles) {
  std::vector<std::string> out;
  for (const auto& line : split(text, '\n')) {
    bool all = true;
    for (const auto& n : needles) all = all && line.find(n) != std::string::npos;
    if (all) out.push_back(line);
  }
  return out;
}

struct RunSetting {
  std::string dataset = "ImageNet", model = "resnest26d";
  int64_t num_classes = 100;
  bool use_slot = true;
  int loss_status = 1;
  double lambda = 1.0;
};

class ReportReferenceTest : public ::testing::Test {
 protected:
  // A complete run with this final accuracy; with `metrics`, explained (SCOUTER: slot, FC:
  // gradcam).
  std::string make_run(const std::string& name, const RunSetting& s, double acc,
                       const std::map<std::string, double>& metrics = {}) {
    std::string run = dir_.file("study/" + name);
    ensure_dir(run);
    testing::write_bytes(run + "/config.toml",
                         str_format("dataset = \"{}\"\nmodel = \"{}\"\nnum_classes = {}\n"
                                    "epochs = 2\nuse_slot = {}\nloss_status = {}\n"
                                    "lambda_value = {}\n",
                                    s.dataset, s.model, s.num_classes,
                                    s.use_slot ? "true" : "false", s.loss_status, s.lambda));
    testing::write_bytes(
        run + "/summary.json",
        json{{"complete", true}, {"final_val_acc", acc}, {"best_val_acc", acc}, {"epochs", 2}}
            .dump());
    if (!metrics.empty()) {
      json values = json::object();
      for (const auto& spec : explain_metric_table())
        values[spec.name] = metrics.count(spec.name) ? json(metrics.at(spec.name)) : json(nullptr);
      json m = {{"images", 50},
                {"settings", {{"seed", 1}}},
                {"methods", {{s.use_slot ? "slot" : "gradcam", values}}}};
      ensure_dir(run + "/explain");
      testing::write_bytes(run + "/explain/metrics.json", m.dump());
    }
    return run;
  }

  // The built-in reference entry that matches `s` and gives `measure`.
  const ReferenceEntry& entry(const RunSetting& s, const std::string& measure) {
    Config cfg;
    cfg.dataset = s.dataset;
    cfg.model = s.model;
    cfg.num_classes = s.num_classes;
    cfg.use_slot = s.use_slot;
    cfg.loss_status = s.loss_status;
    cfg.lambda_value = s.lambda;
    for (const auto& e : ref_.entries)
      if (reference_matches(e, cfg) && e.values.at("paper").count(measure)) return e;
    ADD_FAILURE() << "no built-in entry gives " << measure;
    return ref_.entries.front();
  }
  double value(const RunSetting& s, const std::string& source, const std::string& measure) {
    return entry(s, measure).values.at(source).at(measure);
  }

  std::string study() const { return dir_.file("study"); }
  TempDir dir_;
  ReferenceValues ref_ = report_reference_values("");
};

// The report's difference cell: "+0.0500", with the mark when beyond the tolerance.
std::string diff_cell(double diff, bool beyond) {
  return str_format("{:+.4f}", diff) + (beyond ? std::string(" ") + kBeyondMark : std::string());
}

TEST_F(ReportReferenceTest, OursBesideThePublishedValuesWithMarksAtTheBoundary) {
  RunSetting pos;  // SCOUTER+ lambda 1
  const double paper_acc = value(pos, "paper", "final_val_acc");
  const double repro_acc = value(pos, "reproduction", "final_val_acc");
  const double paper_area = value(pos, "paper", "area");
  const double paper_precision = value(pos, "paper", "precision");
  // Two seeds whose mean is exactly 0.05 above the paper's accuracy (within: the boundary
  // counts as reproduced), and whose area is 0.0501 above (beyond) and precision 0.05 below.
  make_run("pos_seed1", pos, paper_acc + 0.04,
           {{"area", paper_area + 0.0401}, {"precision", paper_precision - 0.06}});
  make_run("pos_seed2", pos, paper_acc + 0.06,
           {{"area", paper_area + 0.0601}, {"precision", paper_precision - 0.04}});
  const double our_acc = paper_acc + 0.05, our_area = paper_area + 0.0501;
  const double acc_std = std::sqrt(2 * 0.01 * 0.01);  // sample std of mean ± 0.01

  std::string out = report_table({study()});
  auto acc = lines_with(out, {"| ImageNet | study/pos | SCOUTER+ resnest26d | val acc (final) |"});
  ASSERT_EQ(acc.size(), 1u) << out;
  const double repro_diff = our_acc - repro_acc;
  ASSERT_GT(std::fabs(repro_diff), 0.051) << "the published values no longer give this case";
  EXPECT_EQ(acc[0],
            str_format("| ImageNet | study/pos | SCOUTER+ resnest26d | val acc (final) | 2 | "
                       "{:.4f} ± {:.4f} | {:.4f} | {} | {:.4f} | {} |",
                       our_acc, acc_std, paper_acc, diff_cell(0.05, false), repro_acc,
                       diff_cell(repro_diff, true)))
      << out;
  auto area = lines_with(out, {"| study/pos | SCOUTER+ resnest26d | area |"});
  ASSERT_EQ(area.size(), 1u) << out;
  EXPECT_NE(area[0].find(str_format("| {:.4f} | {} |", paper_area, diff_cell(0.0501, true))),
            std::string::npos)
      << area[0];
  auto precision = lines_with(out, {"| study/pos | SCOUTER+ resnest26d | precision |"});
  ASSERT_EQ(precision.size(), 1u) << out;
  EXPECT_NE(
      precision[0].find(str_format("| {:.4f} | {} |", paper_precision, diff_cell(-0.05, false))),
      std::string::npos)
      << precision[0];
  // Metrics without a value of ours (all but area and precision are null) show no difference.
  auto iauc = lines_with(out, {"| study/pos | SCOUTER+ resnest26d | insertion AUC | 0 | - |"});
  EXPECT_EQ(iauc.size(), 1u) << out;
  EXPECT_NE(out.find(std::string(kBeyondMark) + " marks a difference (ours − source) beyond ±0.05"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("reproduction: [Re] SCOUTER, ReScience C 8(2) #8 (2022)"), std::string::npos);
  EXPECT_NE(out.find("Sensitivity: the paper's values all lie in 0..1"), std::string::npos);

  std::string csv = read_text_file(study() + "/report_reference.csv");
  EXPECT_EQ(split(csv, '\n')[0],
            "dataset,setting,kind,measure,runs,ours_mean,ours_std,tolerance,reference_setting,"
            "paper,paper_diff,paper_beyond,reproduction,reproduction_diff,reproduction_beyond");
  auto acc_csv = lines_with(csv, {"study/pos,SCOUTER+ resnest26d,final_val_acc,2,"});
  ASSERT_EQ(acc_csv.size(), 1u) << csv;
  EXPECT_EQ(acc_csv[0],
            str_format("ImageNet,study/pos,SCOUTER+ resnest26d,final_val_acc,2,{:.6g},{:.6g},0.05,"
                       "dataset=ImageNet loss_status=1 model=resnest26d num_classes=100 "
                       "use_slot=true,{:.6g},{:.6g},false,{:.6g},{:.6g},true",
                       our_acc, acc_std, paper_acc, our_acc - paper_acc, repro_acc, repro_diff));
  auto area_csv = lines_with(csv, {"study/pos,SCOUTER+ resnest26d,area,2,"});
  ASSERT_EQ(area_csv.size(), 1u) << csv;
  EXPECT_NE(area_csv[0].find(",dataset=ImageNet lambda_value=1.0 loss_status=1 "),
            std::string::npos)
      << area_csv[0];
  EXPECT_NE(area_csv[0].find(str_format(",{:.6g},{:.6g},true,", paper_area, our_area - paper_area)),
            std::string::npos)
      << area_csv[0];
  // One accuracy row and six metric rows: 7 rows, each with two sources.
  EXPECT_EQ(count(csv, "\nImageNet,study/pos,"), 7u) << csv;
}

TEST_F(ReportReferenceTest, SettingsWithoutPublishedNumbersSayNoReference) {
  RunSetting fashion{"FashionMNIST", "smallcnn", 10, true, 1, 1.0};
  make_run("fmnist_seed1", fashion, 0.9, {{"area", 0.3}});
  RunSetting imagenet10;  // the 10-class sweep: another class count than the published one
  imagenet10.num_classes = 10;
  make_run("in10_seed1", imagenet10, 0.85, {{"area", 0.2}});
  RunSetting neg;
  neg.loss_status = -1;
  neg.lambda = 2.0;  // no explanation values at lambda 2, but the accuracy holds for every lambda
  make_run("neg_seed1", neg, 0.79, {{"area", 0.05}});
  std::string out = report_table({study()}, ReportOptions{true, ""});
  EXPECT_EQ(lines_with(
                out, {"| FashionMNIST | study/fmnist | SCOUTER+ smallcnn | no reference | 1 | - |"})
                .size(),
            1u)
      << out;
  EXPECT_EQ(lines_with(out, {"| ImageNet | study/in10 | SCOUTER+ resnest26d | no reference | 1 |"})
                .size(),
            1u)
      << out;
  EXPECT_EQ(lines_with(out, {"| study/neg | SCOUTER- resnest26d | val acc (final) | 1 |"}).size(),
            1u)
      << out;
  EXPECT_EQ(lines_with(out, {"| study/neg |", "| area |"}).size(), 0u) << out;
  std::string csv = read_text_file(study() + "/report_reference.csv");
  EXPECT_EQ(
      lines_with(csv, {"FashionMNIST,study/fmnist,SCOUTER+ smallcnn,,1,,,0.05,none,,,,,,"}).size(),
      1u)
      << csv;
  // The HTML page has the section, the same rows, and no marked cell here (no value is beyond).
  std::string html = read_text_file(study() + "/report.html");
  EXPECT_NE(html.find("<table id=\"reference-table\">"), std::string::npos);
  EXPECT_EQ(count(html, "<td>no reference</td>"), 2u);
  EXPECT_EQ(count(html, "class=\"marked\""), count(csv, ",true"));
}

TEST_F(ReportReferenceTest, HtmlMarksEachCellBeyondTheTolerance) {
  RunSetting fc;
  fc.use_slot = false;
  const double paper = value(fc, "paper", "final_val_acc");
  const double repro = value(fc, "reproduction", "final_val_acc");
  make_run("fc_seed1", fc, paper - 0.2);
  report_table({study()}, ReportOptions{true, ""});
  std::string html = read_text_file(study() + "/report.html");
  const std::string mark = std::string(" ") + kBeyondMark;
  EXPECT_NE(html.find(str_format("<td class=\"marked\">{:+.4f}{}</td>", -0.2, mark)),
            std::string::npos)
      << html;
  EXPECT_NE(html.find(str_format("<td class=\"marked\">{:+.4f}{}</td>", paper - 0.2 - repro, mark)),
            std::string::npos);
  EXPECT_EQ(count(html, "class=\"marked\""), 2u);
  EXPECT_NE(html.find("<a href=\"#reference\">"), std::string::npos);
}

TEST_F(ReportReferenceTest, AnotherReferenceFileGivesItsOwnSourcesAndTolerance) {
  RunSetting fashion{"FashionMNIST", "smallcnn", 10, false, 1, 1.0};
  make_run("fc_seed1", fashion, 0.90);
  make_run("fc_seed2", fashion, 0.92);
  testing::write_bytes(dir_.file("mine.toml"), R"(tolerance = 0.005
[sources]
quickstart = "README.md, measured 2026-11-26"
[[entry]]
setting = { dataset = "FashionMNIST", use_slot = false }
quickstart = { final_val_acc = 0.9077 }
)");
  auto r = testing::run_command(testing::scouter_bin() + " report " + study() + " --reference " +
                                dir_.file("mine.toml"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto row = lines_with(r.output, {"| FashionMNIST | study/fc | FC smallcnn | val acc (final) |"});
  ASSERT_EQ(row.size(), 1u) << r.output;
  EXPECT_EQ(row[0], str_format("| FashionMNIST | study/fc | FC smallcnn | val acc (final) | 2 | "
                               "0.9100 ± {:.4f} | 0.9077 | {} |",
                               std::sqrt(2 * 0.01 * 0.01), diff_cell(0.91 - 0.9077, false)));
  EXPECT_NE(r.output.find("beyond ±0.005; reference values from " + dir_.file("mine.toml")),
            std::string::npos)
      << r.output;
  EXPECT_EQ(split(read_text_file(study() + "/report_reference.csv"), '\n')[0],
            "dataset,setting,kind,measure,runs,ours_mean,ours_std,tolerance,reference_setting,"
            "quickstart,quickstart_diff,quickstart_beyond");
}

TEST_F(ReportReferenceTest, AWrongReferenceFileStopsTheReportWithOneLine) {
  make_run("fc_seed1", RunSetting{"FashionMNIST", "smallcnn", 10, false, 1, 1.0}, 0.9);
  testing::write_bytes(dir_.file("bad.toml"), R"(tolerance = 0.05
[sources]
paper = "p"
[[entry]]
setting = { dataset = "FashionMNIST" }
paper = { accuracy = 0.9 }
)");
  auto r = testing::run_command(testing::scouter_bin() + " report " + study() + " --reference " +
                                dir_.file("bad.toml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(dir_.file("bad.toml") + ":6: unknown measure 'accuracy'"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("final_val_acc"), std::string::npos) << r.output;
  EXPECT_FALSE(file_exists(study() + "/report.csv")) << "nothing is written for a wrong file";
  r = testing::run_command(testing::scouter_bin() + " report " + study() + " --reference " +
                           dir_.file("none.toml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("none.toml"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace scouter
