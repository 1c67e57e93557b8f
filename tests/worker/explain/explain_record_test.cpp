// The typed explanation records and the metric table they take their columns from
// (worker/explain/explain_record.h, metric_spec.h, metric_batch.h): records survive the flat
// buffer the ranks gather, the table's rows are complete and documented, a registered metric
// lives exactly as long as its registration, and a metric that needs boxes gets a value only
// where there is one.
#include "worker/explain/explain_record.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/text.h"
#include "test_util.h"
#include "worker/explain/metric_batch.h"
#include "worker/explain/metric_spec.h"

namespace scouter {
namespace {

ExplainRecord record(int64_t index, const Box& box, size_t methods, size_t metrics) {
  ExplainRecord r;
  r.index = index;
  r.label = index % 7;
  r.pred = (index + 1) % 7;
  r.box = box;
  for (size_t m = 0; m < methods; ++m) {
    MetricValues v;
    for (size_t k = 0; k < metrics; ++k)
      v.push_back(k == 1 && m == 0 ? NAN : static_cast<double>(index) + 0.1 * m + 0.01 * k);
    r.methods.push_back(v);
  }
  return r;
}

void expect_same(const ExplainRecord& a, const ExplainRecord& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.label, b.label);
  EXPECT_EQ(a.pred, b.pred);
  EXPECT_EQ(a.box.valid(), b.box.valid());
  if (a.box.valid()) {
    EXPECT_EQ(a.box.x, b.box.x);
    EXPECT_EQ(a.box.y, b.box.y);
    EXPECT_EQ(a.box.w, b.box.w);
    EXPECT_EQ(a.box.h, b.box.h);
  }
  ASSERT_EQ(a.methods.size(), b.methods.size());
  for (size_t m = 0; m < a.methods.size(); ++m) {
    ASSERT_EQ(a.methods[m].size(), b.methods[m].size());
    for (size_t k = 0; k < a.methods[m].size(); ++k) {
      if (std::isnan(a.methods[m][k])) {
        EXPECT_TRUE(std::isnan(b.methods[m][k])) << m << " " << k;
      } else {
        EXPECT_EQ(a.methods[m][k], b.methods[m][k]) << m << " " << k;
      }
    }
  }
}

TEST(ExplainRecord, PackedRecordsUnpackToTheSameRecords) {
  const size_t methods = 3, metrics = 4;
  std::vector<ExplainRecord> records = {record(0, Box{1.5, 2, 3.25, 4}, methods, metrics),
                                        record(9007199254740000, Box{}, methods, metrics),
                                        record(42, Box{0, 0, 28, 28}, methods, metrics)};
  std::vector<double> flat = pack_records(records, methods, metrics);
  std::vector<ExplainRecord> back = unpack_records(flat, methods, metrics);
  ASSERT_EQ(back.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(i);
    expect_same(records[i], back[i]);
  }
  // Two ranks' buffers concatenated are the records of both, in order.
  std::vector<double> two = pack_records({records[2]}, methods, metrics);
  two.insert(two.end(), flat.begin(), flat.end());
  back = unpack_records(two, methods, metrics);
  ASSERT_EQ(back.size(), 4u);
  expect_same(records[2], back[0]);
  expect_same(records[1], back[2]);
  EXPECT_TRUE(unpack_records({}, methods, metrics).empty());
}

TEST(ExplainRecord, BufferOfPartRecordsOrOtherShapesIsRefused) {
  std::vector<double> flat = pack_records({record(3, Box{}, 2, 2)}, 2, 2);
  flat.pop_back();
  try {
    unpack_records(flat, 2, 2);
    FAIL() << "a partial record was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a whole number of records"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(pack_records({record(3, Box{}, 2, 2)}, 2, 3), Error);
  EXPECT_THROW(pack_records({record(3, Box{}, 2, 2)}, 1, 2), Error);
}

// Every row of the project's table has a name, a title, a report format that formats a number,
// exactly one computation, and a row in docs/explanations.md's metrics table;
// docs/architecture.md's "Adding a metric" lists exactly the table's names, in order.
TEST(ExplainMetricTable, ProjectRowsAreCompleteAndDocumented) {
  const auto& table = explain_metric_table();
  ASSERT_FALSE(table.empty());
  std::set<std::string> names;
  std::vector<std::string> listed;
  for (const auto& spec : table) listed.push_back("`" + spec.name + "`");
  std::string architecture = read_text_file(testing::source_dir() + "/docs/architecture.md");
  std::replace(architecture.begin(), architecture.end(), '\n', ' ');  // as the page wraps it
  EXPECT_NE(architecture.find("Its rows today, in column order: " + join(listed, ", ") + " ("),
            std::string::npos)
      << "docs/architecture.md, \"Adding a metric\", should list " << join(listed, ", ");
  const std::string docs = read_text_file(testing::source_dir() + "/docs/explanations.md");
  for (const auto& spec : table) {
    SCOPED_TRACE(spec.name);
    EXPECT_TRUE(names.insert(spec.name).second) << "duplicate name";
    EXPECT_FALSE(spec.title.empty());
    EXPECT_EQ(static_cast<bool>(spec.of_maps), !spec.of_model);
    EXPECT_FALSE(str_format(spec.report_format, 0.5).empty());
    EXPECT_NE(docs.find("\n| " + spec.title + " |"), std::string::npos)
        << "docs/explanations.md has no row for '" << spec.title << "'";
  }
}

MetricSpec counting_metric(const std::string& name, bool needs_boxes, int* calls) {
  MetricSpec spec;
  spec.name = name;
  spec.title = name;
  spec.report_format = "{:.3f}";
  spec.needs_boxes = needs_boxes;
  spec.of_maps = [calls](const MapBatch& b) {
    ++*calls;
    return std::vector<double>(static_cast<size_t>(b.maps.size(0)), 0.5);
  };
  return spec;
}

TEST(ExplainMetricTable, RegistrationLastsItsScopeAndRefusesBadRows) {
  const size_t before = explain_metric_table().size();
  int calls = 0;
  {
    ExplainMetricRegistration reg(counting_metric("test_scoped", false, &calls));
    ASSERT_EQ(explain_metric_table().size(), before + 1);
    EXPECT_EQ(explain_metric_table().back().name, "test_scoped");
    EXPECT_THROW(ExplainMetricRegistration{counting_metric("test_scoped", false, &calls)}, Error);
    EXPECT_THROW(
        ExplainMetricRegistration{counting_metric(explain_metric_table()[0].name, false, &calls)},
        Error);
    MetricSpec none = counting_metric("test_none", false, &calls);
    none.of_maps = nullptr;
    EXPECT_THROW(ExplainMetricRegistration{none}, Error);
    MetricSpec both = counting_metric("test_both", false, &calls);
    both.of_model = [](const ModelBatch&) { return std::vector<double>(); };
    EXPECT_THROW(ExplainMetricRegistration{both}, Error);
    EXPECT_EQ(explain_metric_table().size(), before + 1);
  }
  EXPECT_EQ(explain_metric_table().size(), before);
  for (const auto& spec : explain_metric_table()) EXPECT_NE(spec.name, "test_scoped");
}

TEST(ExplainMetricTable, MetricThatNeedsBoxesIsNullWithoutOne) {
  int calls = 0;
  MetricSpec spec = counting_metric("test_boxes", true, &calls);
  auto maps = torch::ones({3, 4, 4});
  std::vector<Box> none(3);
  std::vector<double> v = measure(spec, MapBatch{maps, none});
  EXPECT_EQ(calls, 0) << "called although no image has a box";
  ASSERT_EQ(v.size(), 3u);
  for (double x : v) EXPECT_TRUE(std::isnan(x));
  std::vector<Box> one = {Box{}, Box{0, 0, 2, 2}, Box{}};
  v = measure(spec, MapBatch{maps, one});
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 0.5);
  EXPECT_TRUE(std::isnan(v[2]));
  MetricSpec plain = counting_metric("test_plain", false, &calls);
  v = measure(plain, MapBatch{maps, none});
  EXPECT_EQ(v, std::vector<double>(3, 0.5));
}

TEST(ExplainMetricTable, MeanReductionSkipsImagesWithoutAValue) {
  MetricSpec spec;
  spec.reduction = MetricReduction::kMean;
  MetricSummary s = reduce_metric(spec, {0.25, NAN, 0.75, 0.5});
  EXPECT_EQ(s.value, 0.5);
  EXPECT_EQ(s.count, 3);
  s = reduce_metric(spec, {NAN, NAN});
  EXPECT_TRUE(std::isnan(s.value));
  EXPECT_EQ(s.count, 0);
}

}  // namespace
}  // namespace scouter
