#include "worker/explain/explain_record.h"

#include <cmath>

#include "common/error.h"
#include "common/format.h"

namespace scouter {
namespace {

// The head of a packed record: what the image is, before its metric values.
void pack_head(const ExplainRecord& r, std::vector<double>& out) {
  const bool box = r.box.valid();
  for (double v :
       {static_cast<double>(r.index), static_cast<double>(r.label), static_cast<double>(r.pred),
        box ? r.box.x : NAN, box ? r.box.y : NAN, box ? r.box.w : NAN, box ? r.box.h : NAN})
    out.push_back(v);
}

// Reads a packed record front to back.
struct Reader {
  const double* at;
  double next() { return *at++; }
  int64_t next_int() { return static_cast<int64_t>(next()); }
};

void unpack_head(Reader& in, ExplainRecord& r) {
  r.index = in.next_int();
  r.label = in.next_int();
  r.pred = in.next_int();
  Box box{in.next(), in.next(), in.next(), in.next()};
  if (std::isfinite(box.x)) r.box = box;
}

// Doubles per record: the head's (as pack_head writes it) and the values.
size_t record_size(size_t methods, size_t metrics) {
  static const size_t head = [] {
    std::vector<double> probe;
    pack_head(ExplainRecord{}, probe);
    return probe.size();
  }();
  return head + methods * metrics;
}

}  // namespace

std::vector<double> pack_records(const std::vector<ExplainRecord>& records, size_t methods,
                                 size_t metrics) {
  std::vector<double> out;
  out.reserve(records.size() * record_size(methods, metrics));
  for (const auto& r : records) {
    pack_head(r, out);
    SCOUTER_CHECK(r.methods.size() == methods, "a record has values for other methods");
    for (const MetricValues& values : r.methods) {
      SCOUTER_CHECK(values.size() == metrics, "a record has values for other metrics");
      out.insert(out.end(), values.begin(), values.end());
    }
  }
  return out;
}

std::vector<ExplainRecord> unpack_records(const std::vector<double>& flat, size_t methods,
                                          size_t metrics) {
  const size_t per = record_size(methods, metrics);
  if (flat.size() % per != 0)
    throw Error(str_format(
        "explain: gathered {} values, not a whole number of records of {} ({} method(s) x {} "
        "metric(s))",
        flat.size(), per, methods, metrics));
  std::vector<ExplainRecord> records(flat.size() / per);
  Reader in{flat.data()};
  for (auto& r : records) {
    unpack_head(in, r);
    r.methods.assign(methods, MetricValues(metrics));
    for (MetricValues& values : r.methods)
      for (double& v : values) v = in.next();
  }
  return records;
}

}  // namespace scouter
