// Adding an explanation metric is one computation plus one row of the metric table
// (worker/explain/metric_spec.h): two metrics registered here, in the test file, and nowhere else,
// are listed by `scouter help` and flow through `scouter explain` (in-process) into images.jsonl
// and metrics.json, through `explain --image` into result.json, and through `scouter report` into
// its metrics table and report_metrics.csv. One needs the model's batch (the images' indices and
// classes), one only the maps and boxes, so both kinds of computation are covered; their values are
// closed forms of what the files record about each image.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/format.h"
#include "common/text.h"
#include "datasets/image_ops.h"
#include "launcher/cli.h"
#include "launcher/report.h"
#include "test_util.h"
#include "worker/explain/explain.h"
#include "worker/explain/explain_image.h"
#include "worker/explain/metric_batch.h"
#include "worker/toy_data.h"
#include "worker/train/trainer.h"

namespace scouter {
namespace {

using nlohmann::json;
using testing::TempDir;

// index * 10 + true class, from the model's batch (of_model).
MetricSpec index_label_metric() {
  MetricSpec spec;
  spec.name = "test_index_label";
  spec.title = "index-label (test)";
  spec.report_format = "{:.1f}";
  spec.of_model = [](const ModelBatch& b) {
    EXPECT_EQ(b.images.size(0), static_cast<int64_t>(b.indices.size()));
    std::vector<double> v;
    for (size_t i = 0; i < b.indices.size(); ++i)
      v.push_back(static_cast<double>(b.indices[i] * 10 +
                                      b.targets[static_cast<int64_t>(i)].item<int64_t>()));
    return v;
  };
  return spec;
}

// The box's share of the map's pixels, from the maps and boxes alone (of_maps); only with a box,
// also without --metrics, and metrics.json counts the images that have it.
MetricSpec box_share_metric() {
  MetricSpec spec;
  spec.name = "test_box_share";
  spec.title = "box share (test)";
  spec.report_format = "{:.3f}";
  spec.needs_boxes = true;
  spec.with_maps = true;
  spec.count_key = "test_box_share_images";
  spec.of_maps = [](const MapBatch& b) {
    const double pixels = static_cast<double>(b.maps.size(1) * b.maps.size(2));
    std::vector<double> v;
    for (const Box& box : b.boxes) v.push_back(box.w * box.h / pixels);
    return v;
  };
  return spec;
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  for (const auto& line : split(read_text_file(path), '\n'))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// The line of the CSV whose `column` is `value`, as column -> field.
std::map<std::string, std::string> csv_row(const std::string& csv, const std::string& column,
                                           const std::string& value) {
  auto lines = split(csv, '\n');
  auto header = split(lines.at(0), ',');
  for (size_t i = 1; i < lines.size(); ++i) {
    auto fields = split(lines[i], ',');
    std::map<std::string, std::string> row;
    for (size_t k = 0; k < header.size() && k < fields.size(); ++k) row[header[k]] = fields[k];
    if (row[column] == value) return row;
  }
  return {};
}

TEST(ExplainMetricExtension, RegisteredMetricReachesEveryFileAndTheReport) {
  TempDir dir;
  testing::write_localisation_shards(dir.file("data"), 256, 32);
  Config fc = testing::toy_config(dir.file("data"), dir.file("study/fc"));
  fc.use_slot = false;
  fc.epochs = 1;
  train_run(fc);

  ExplainMetricRegistration index_label(index_label_metric()), box_share(box_share_metric());
  // `scouter help` lists the metrics of the table.
  EXPECT_NE(usage().find("sensitivity, test_index_label, test_box_share\n"), std::string::npos)
      << usage();
  ExplainOptions opt;
  opt.images = 6;
  opt.pictures = 0;
  Config request;
  request.eval_batch_size = 4;  // two batches: values must follow their images across them
  request.infidelity_samples = request.sensitivity_samples = 2;
  const Origins origins = {
      {"eval_batch_size", "test"}, {"infidelity_samples", "test"}, {"sensitivity_samples", "test"}};
  run_explain(dir.file("study/fc"), opt, request, origins);

  const std::string explain = dir.file("study/fc/explain");
  auto lines = read_jsonl(explain + "/images.jsonl");
  ASSERT_EQ(lines.size(), 6u);
  json metrics = json::parse(read_text_file(explain + "/metrics.json"));
  for (const char* method : {"cam", "gradcam", "gradcampp"}) {
    SCOPED_TRACE(method);
    double sum = 0, share_sum = 0;
    for (const auto& line : lines) {
      const double expected = line["index"].get<double>() * 10 + line["label"].get<double>();
      EXPECT_EQ(line[method]["test_index_label"].get<double>(), expected);
      const auto& box = line["box"];
      const double share = box[2].get<double>() * box[3].get<double>() / (28.0 * 28.0);
      EXPECT_DOUBLE_EQ(line[method]["test_box_share"].get<double>(), share);
      EXPECT_TRUE(line[method]["insertion_auc"].is_number());
      sum += expected;
      share_sum += share;
    }
    const auto& m = metrics["methods"][method];
    EXPECT_DOUBLE_EQ(m["test_index_label"].get<double>(), sum / 6);
    EXPECT_DOUBLE_EQ(m["test_box_share"].get<double>(), share_sum / 6);
    EXPECT_EQ(m["test_box_share_images"], 6);
    EXPECT_TRUE(m["area"].is_number());
  }

  std::string out = report_table({dir.file("study")});
  EXPECT_NE(out.find("| index-label (test) | box share (test) |"), std::string::npos) << out;
  const double mean = metrics["methods"]["cam"]["test_index_label"].get<double>();
  EXPECT_NE(out.find("| CAM | 1 | 6 |"), std::string::npos) << out;
  EXPECT_NE(out.find(str_format("| {:.1f} ± 0.0 |", mean)), std::string::npos) << out;
  auto row = csv_row(read_text_file(dir.file("study/report_metrics.csv")), "method", "cam");
  EXPECT_EQ(row["test_index_label_mean"], str_format("{:.6g}", mean));
  EXPECT_EQ(row["test_index_label_std"], "0");
  EXPECT_EQ(row["test_box_share_mean"],
            str_format("{:.6g}", metrics["methods"]["cam"]["test_box_share"].get<double>()));

  // Without --metrics the maps' metric is still measured, the model's is not.
  opt.metrics = false;
  run_explain(dir.file("study/fc"), opt, request, origins);
  lines = read_jsonl(explain + "/images.jsonl");
  EXPECT_TRUE(lines[0]["cam"]["test_index_label"].is_null());
  EXPECT_TRUE(lines[0]["cam"]["test_box_share"].is_number());

  // explain --image measures the maps' metrics of the table for each map, against its box.
  std::vector<uint8_t> px(28 * 28, 90);
  write_png(dir.file("gray.png"), px.data(), 28, 28, 1);
  ImageExplainOptions io;
  io.images = {dir.file("gray.png")};
  io.boxes = {{2, 3, 10, 5}};
  auto results = run_explain_images(dir.file("study/fc"), io, Config{}, {});
  ASSERT_EQ(results.size(), 1u);
  json result = json::parse(read_text_file(results[0].json));
  for (const auto& [method, maps] : result["methods"].items()) {
    SCOPED_TRACE(method);
    ASSERT_FALSE(maps.empty());
    for (const auto& m : maps) {
      EXPECT_DOUBLE_EQ(m["test_box_share"].get<double>(), 50.0 / 784.0);
      EXPECT_FALSE(m.contains("test_index_label"));  // needs the model's batch
    }
  }
  EXPECT_DOUBLE_EQ(results[0].maps[0].value("test_box_share"), 50.0 / 784.0);
}

}  // namespace
}  // namespace scouter
