// `scouter report` and provenance.json (launcher/report_provenance.h) over fabricated runs: the
// provenance table, the mark and note on a row whose pooled seeds differ in what produced them,
// and runs without a record ("unrecorded") or with a broken one (a warning), never a crash.
#include "launcher/report_provenance.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/format.h"
#include "launcher/report.h"
#include "test_util.h"

namespace scouter {
namespace {

using nlohmann::json;
using testing::TempDir;
using testing::line_with;

const std::string kData(64, 'a'), kOtherData(64, 'b'), kWeights(64, 'c');

json attempt(const std::string& host, const std::string& libtorch = "1.13.1",
             const std::string& data = kData) {
  return {{"command", "train"},
          {"started", "2026-12-07T10:00:00Z"},
          {"resumed_from", nullptr},
          {"epochs_done", 0},
          {"scouter_version", "0.9.0"},
          {"scouter_commit", "abc123"},
          {"scouter_dirty", false},
          {"compiler", "gcc 12.2.0"},
          {"libtorch", libtorch},
          {"cuda_runtime", "none"},
          {"cudnn", "none"},
          {"nccl", "none"},
          {"mpi", "Open MPI v4.1.4"},
          {"device", "cpu"},
          {"world_size", 1},
          {"hosts", {{host, 1}}},
          {"dataset", "MNIST"},
          {"dataset_dir", "data/mnist"},
          {"data_fingerprint", {{"sha256", data}, {"files", 2}}},
          {"pretrained", "w.safetensors"},
          {"pretrained_sha256", kWeights},
          {"pre_checkpoint", "none"},
          {"pre_checkpoint_sha256", "none"}};
}

class ReportProvenanceTest : public ::testing::Test {
 protected:
  std::string study() { return dir_.file("study"); }
  // A complete SCOUTER+ run; with `attempts`, its provenance.json.
  std::string make_run(const std::string& name, const std::vector<json>& attempts) {
    std::string run = dir_.file("study/" + name);
    ensure_dir(run);
    testing::write_bytes(run + "/config.toml",
                         "dataset = \"MNIST\"\nmodel = \"smallcnn\"\nnum_classes = 4\nepochs = 1\n");
    testing::write_bytes(run + "/metrics.jsonl", "{\"epoch\": 1, \"train_loss\": 1, \"val_acc\": 0.9}\n");
    testing::write_bytes(run + "/summary.json",
                         "{\"complete\": true, \"final_val_acc\": 0.9, \"best_val_acc\": 0.9, "
                         "\"total_seconds\": 1, \"train_images_per_s\": 10, \"epochs\": 1}");
    if (!attempts.empty())
      testing::write_bytes(run + "/provenance.json",
                           json({{"format", "scouter-provenance"}, {"format_version", 1},
                                 {"attempts", attempts}})
                               .dump(2));
    return run;
  }
  TempDir dir_;
};

TEST_F(ReportProvenanceTest, SeedsThatDifferAreMarkedAndTheNoteNamesFieldsValuesAndRuns) {
  make_run("pos_seed1", {attempt("node1")});
  make_run("pos_seed2", {attempt("node2")});  // another host alone: not a difference
  make_run("pos_seed3", {attempt("node1", "2.1.0", kOtherData)});
  make_run("fc_seed1", {attempt("node1")});
  make_run("fc_seed2", {attempt("node3")});
  std::string out = report_table({study()}, ReportOptions{true});

  EXPECT_NE(line_with(out, "| study/pos [provenance differs] |"), "") << out;
  EXPECT_EQ(line_with(out, "| study/fc [provenance differs] |"), "") << out;
  EXPECT_NE(line_with(out, "| study/fc |"), "") << out;
  EXPECT_EQ(line_with(out, "study/pos: its runs differ"),
            "study/pos: its runs differ in what produced them (provenance.json): libtorch 1.13.1 "
            "(pos_seed1, pos_seed2), 2.1.0 (pos_seed3); data " + kData + " (pos_seed1, pos_seed2), " +
                kOtherData + " (pos_seed3).")
      << out;

  // The provenance table: one row per run, digests shortened; the host names shown.
  const std::string row = line_with(out, "| " + study() + "/pos_seed3 | 1 |");
  EXPECT_NE(row.find("| 0.9.0 (abc123) | gcc 12.2.0 | 2.1.0 | none | none | none | Open MPI v4.1.4 "
                     "| cpu | 1 rank on 1 host | node1:1 | bbbbbbbbbbbb | cccccccccccc | none | "
                     "- | libtorch, data |"),
            std::string::npos)
      << row;
  EXPECT_NE(line_with(out, "| " + study() + "/fc_seed2 | 1 |").find("| node3:1 |"), std::string::npos);
  EXPECT_NE(line_with(out, "| " + study() + "/fc_seed2 | 1 |").find("| - |"), std::string::npos);

  // CSV: whole digests, and which fields differ within the run's setting.
  std::string csv = read_text_file(study() + "/report_provenance.csv");
  EXPECT_EQ(line_with(csv, "run,"),
            "run,provenance,attempts,scouter,compiler,libtorch,cuda,cudnn,nccl,mpi,device,layout,"
            "hosts,data,pretrained,pre_checkpoint,imported,differs_within_setting");
  EXPECT_NE(line_with(csv, "/pos_seed1,").find("," + kData + "," + kWeights + ",none,-,libtorch data"),
            std::string::npos)
      << csv;
  EXPECT_EQ(line_with(csv, "/fc_seed1,").back(), ',') << csv;  // nothing differs

  // HTML: the section, and the marked row.
  std::string html = read_text_file(study() + "/report.html");
  EXPECT_NE(html.find("<h2 id=\"provenance\">"), std::string::npos);
  EXPECT_NE(html.find("<td>study/pos [provenance differs]</td>"), std::string::npos);
  EXPECT_NE(html.find("2.1.0 (pos_seed3)"), std::string::npos);
}

TEST_F(ReportProvenanceTest, ResumedAttemptsShowEveryValueAndDifferInLayout) {
  json second = attempt("node7");
  second["hosts"] = {{"node7", 2}, {"node8", 2}};
  second["resumed_from"] = "epoch-0001.h5";
  second.erase("pretrained_sha256");  // a resumed attempt loads no weights
  make_run("pos_seed1", {attempt("node1"), second});
  make_run("pos_seed2", {attempt("node1")});
  std::string out = report_table({study()});
  const std::string row = line_with(out, "| " + study() + "/pos_seed1 | 2 |");
  EXPECT_NE(row.find("| 1 rank on 1 host + 4 ranks on 2 hosts | node1:1 + node7:2 node8:2 |"),
            std::string::npos)
      << row;
  EXPECT_NE(row.find("| cccccccccccc |"), std::string::npos) << row;  // from the first attempt
  EXPECT_NE(out.find("layout 1 rank on 1 host (pos_seed2), 1 rank on 1 host + 4 ranks on 2 hosts "
                     "(pos_seed1)"),
            std::string::npos)
      << out;
}

TEST_F(ReportProvenanceTest, OldRunsAreUnrecordedAndABrokenFileIsAWarning) {
  make_run("pos_seed1", {attempt("node1")});
  make_run("pos_seed2", {});  // before provenance existed
  std::string broken = make_run("pos_seed3", {attempt("node1", "2.1.0")});
  testing::write_bytes(broken + "/provenance.json", "{\"format\": \"scouter-provenance\", \"attem");
  std::string out = report_table({study()});
  // Neither is compared: the setting is not marked (seed3's 2.1.0 is unreadable).
  EXPECT_NE(line_with(out, "| study/pos |"), "") << out;
  EXPECT_EQ(out.find("[provenance differs]"), std::string::npos) << out;
  EXPECT_NE(line_with(out, "| " + study() + "/pos_seed2 | unrecorded | unrecorded |"), "") << out;
  EXPECT_NE(line_with(out, "| " + study() + "/pos_seed3 | malformed | unrecorded |"), "") << out;
  EXPECT_NE(line_with(out, "warning: " + broken + "/provenance.json: malformed"), "") << out;
}

}  // namespace
}  // namespace scouter
