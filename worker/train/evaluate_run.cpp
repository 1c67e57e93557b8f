#include "worker/train/evaluate_run.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/text.h"
#include "worker/comm/distributed.h"
#include "worker/run/trained_run.h"
#include "worker/train/run_collectives.h"

namespace scouter {
namespace {

// NaN (no samples of a class; FC has no area) becomes JSON null.
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_number(double v) { return std::isfinite(v) ? str_format("{:.9g}", v) : std::string(); }

double ratio(double a, int64_t n) { return n > 0 ? a / static_cast<double>(n) : NAN; }

struct ClassRow {
  int64_t count = 0, correct = 0;
  double acc = NAN, nll = NAN, area = NAN;
};

std::vector<ClassRow> class_rows(const EvalResult& r, int64_t K, bool use_slot) {
  std::vector<ClassRow> rows(static_cast<size_t>(K));
  for (int64_t t = 0; t < K; ++t) {
    ClassRow& row = rows[static_cast<size_t>(t)];
    for (int64_t p = 0; p < K; ++p) row.count += r.confusion[static_cast<size_t>(t * K + p)];
    row.correct = r.confusion[static_cast<size_t>(t * K + t)];
    row.acc = ratio(static_cast<double>(row.correct), row.count);
    row.nll = ratio(r.class_nll_sum[static_cast<size_t>(t)], row.count);
    if (use_slot) row.area = ratio(r.class_area_sum[static_cast<size_t>(t)], row.count);
  }
  return rows;
}

void write_outputs(const std::string& dir, const std::string& split, const EvaluateReport& rep,
                   const Config& cfg, int world) {
  const EvalResult& r = rep.result;
  const int64_t K = cfg.num_classes;
  auto rows = class_rows(r, K, cfg.use_slot);
  nlohmann::json classes = nlohmann::json::array();
  std::string classes_csv = "index,name,count,correct,acc,nll,area\n";
  for (int64_t t = 0; t < K; ++t) {
    const ClassRow& row = rows[static_cast<size_t>(t)];
    const std::string& name = rep.class_names[static_cast<size_t>(t)];
    classes.push_back({{"index", t}, {"name", name}, {"count", row.count}, {"correct", row.correct},
                       {"acc", number(row.acc)}, {"nll", number(row.nll)}, {"area", number(row.area)}});
    classes_csv += str_format("{},{},{},{},{},{},{}\n", t, csv_field(name), row.count, row.correct,
                              csv_number(row.acc), csv_number(row.nll), csv_number(row.area));
  }
  nlohmann::json confusion = nlohmann::json::array();
  std::string confusion_csv = "true\\predicted";
  for (int64_t p = 0; p < K; ++p) confusion_csv += "," + csv_field(rep.class_names[static_cast<size_t>(p)]);
  confusion_csv += "\n";
  for (int64_t t = 0; t < K; ++t) {
    std::vector<int64_t> line(r.confusion.begin() + t * K, r.confusion.begin() + (t + 1) * K);
    confusion.push_back(line);
    confusion_csv += csv_field(rep.class_names[static_cast<size_t>(t)]) + "," + join_ints(line) + "\n";
  }
  nlohmann::json j = {{"split", split},
                      {"checkpoint", rep.checkpoint},
                      {"epoch", rep.epoch},
                      {"dataset_dir", cfg.dataset_dir},
                      {"img_size", cfg.img_size},
                      {"num_classes", K},
                      {"ranks", world},
                      {"loss", number(r.loss())},
                      {"nll", number(r.nll())},
                      {"attn", number(r.attn())},
                      {"acc", number(r.acc())},
                      {"area", number(r.area())},
                      {"correct", r.correct},
                      {"count", r.count},
                      {"seconds", r.seconds},
                      {"classes", classes},
                      {"confusion", confusion}};
  ensure_dir(dir);
  write_text_file_atomic(dir + "/" + split + "_classes.csv", classes_csv);
  write_text_file_atomic(dir + "/" + split + "_confusion.csv", confusion_csv);
  write_text_file_atomic(rep.json_path, j.dump(2) + "\n");
}

}  // namespace

EvaluateReport evaluate_run(const std::string& run_dir, const std::string& split,
                            const Config& request, const Origins& origins) {
  if (split != "val" && split != "train")
    throw UserError(str_format("command line: --split must be val or train, got '{}'", split),
                    "e.g. scouter evaluate RUN --split train");
  LoadedRun loaded(run_dir, request, origins, {"evaluate", split, /*rank_part=*/true});
  const Config& cfg = loaded.cfg();
  Distributed& dist = loaded.dist;
  if (dist.rank0())
    log::info("evaluate {} (epoch {}): {} split of {} over {} rank(s)", run_dir,
              loaded.run.info.state.epoch, split, cfg.dataset_dir, dist.world());

  EvaluateReport rep;
  rep.checkpoint = loaded.run.ckpt;
  rep.epoch = loaded.run.info.state.epoch;
  EvalResult& r = rep.result;
  r = evaluate(loaded.model, *loaded.loader, cfg.lambda_value, loaded.device, nullptr, true);
  // Sums, not means, across ranks: the same numbers as one process.
  sum_across_ranks(dist, r, cfg.use_slot);
  const auto& names = loaded.meta().class_names;
  rep.class_names.assign(names.begin(), names.begin() + std::min<int64_t>(cfg.num_classes, static_cast<int64_t>(names.size())));
  while (static_cast<int64_t>(rep.class_names.size()) < cfg.num_classes)
    rep.class_names.push_back(std::to_string(rep.class_names.size()));
  rep.json_path = run_dir + "/eval/" + split + ".json";
  if (dist.rank0()) write_outputs(run_dir + "/eval", split, rep, cfg, dist.world());
  dist.barrier("evaluate written");
  return rep;
}

std::string evaluate_text(const EvaluateReport& rep, bool use_slot) {
  const EvalResult& r = rep.result;
  const auto K = static_cast<int64_t>(rep.class_names.size());
  std::string s = str_format("{} (epoch {}): acc {:.4f} ({} of {}), loss {:.6f}, nll {:.6f}", rep.checkpoint,
                             rep.epoch, r.acc(), r.correct, r.count, r.loss(), r.nll());
  if (use_slot) s += str_format(", attn {:.6f}, area {:.4f}", r.attn(), r.area());
  s += "\n";
  size_t w = 5;
  for (const auto& n : rep.class_names) w = std::max(w, n.size());
  s += str_format("{:>5}  {:<{}}  {:>7}  {:>7}  {:>8}{}\n", "class", "name", w, "count", "acc", "nll",
                  use_slot ? "      area" : "");
  auto rows = class_rows(r, K, use_slot);
  for (int64_t t = 0; t < K; ++t) {
    const ClassRow& row = rows[static_cast<size_t>(t)];
    s += str_format("{:>5}  {:<{}}  {:>7}  {:>7.4f}  {:>8.5f}{}\n", t, rep.class_names[static_cast<size_t>(t)], w,
                    row.count, row.acc, row.nll, use_slot ? str_format("  {:>8.4f}", row.area) : std::string());
  }
  s += "confusion (rows: true class, columns: predicted):\n";
  for (int64_t t = 0; t < K; ++t) {
    std::vector<int64_t> line(r.confusion.begin() + t * K, r.confusion.begin() + (t + 1) * K);
    std::string cells;
    for (int64_t v : line) cells += str_format(" {:>6}", v);
    s += str_format("{:>5} {}\n", t, cells);
  }
  s += "written: " + rep.json_path + "\n";
  return s;
}

}  // namespace scouter
