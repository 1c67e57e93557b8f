#include "worker/train/run_summary.h"

#include <ctime>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/version.h"
#include "worker/run/checkpoint.h"

namespace scouter {

void check_output_dir(const Config& cfg) {
  auto existing = list_checkpoints(cfg.output_dir);
  bool has_summary = file_exists(cfg.output_dir + "/summary.json");
  if (!cfg.resume && (!existing.empty() || has_summary))
    throw UserError(str_format("output_dir '{}' already holds a run ({} checkpoints{})",
                               cfg.output_dir, existing.size(), has_summary ? ", finished" : ""),
                    "pass --resume true to continue it, or choose another output_dir");
}

std::string now_iso() {
  auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json epoch_record(int64_t epoch, double lr, double train_loss, double train_nll,
                            double train_attn, double train_acc, const EvalResult& ev,
                            bool use_slot, double images_per_s, double train_s,
                            double data_wait_s, const GradSyncStats& sync) {
  nlohmann::json rec = {{"epoch", epoch}, {"lr", lr},
                        {"train_loss", train_loss}, {"train_nll", train_nll},
                        {"train_attn", train_attn}, {"train_acc", train_acc},
                        {"val_loss", ev.loss()}, {"val_nll", ev.nll()}, {"val_attn", ev.attn()},
                        {"val_acc", ev.acc()}, {"val_correct", ev.correct}, {"val_count", ev.count},
                        {"val_area", use_slot ? nlohmann::json(ev.area()) : nlohmann::json()},
                        {"images_per_s", images_per_s}, {"train_time_s", train_s},
                        {"data_wait_s", data_wait_s}, {"eval_time_s", ev.seconds},
                        {"time", now_iso()}};
  if (sync.steps > 0) rec["comm_wait_s"] = sync.wait_s;  // rank 0's time blocked on gradients
  return rec;
}

EpochTimes& EpochTimes::operator+=(const EpochTimes& o) {
  epoch_s += o.epoch_s;
  steps_s += o.steps_s;
  data_wait_s += o.data_wait_s;
  val_s += o.val_s;
  checkpoint_s += o.checkpoint_s;
  return *this;
}

std::string EpochTimes::describe() const {
  return str_format("time {:.1f} s: steps {:.1f} s (waiting for data {:.1f} s), val {:.1f} s, "
                    "checkpoint {:.1f} s", epoch_s, steps_s, data_wait_s, val_s, checkpoint_s);
}

namespace {

// summary.json's "epoch_times".
nlohmann::json epoch_times_json(const EpochTimes& t) {
  return {{"epochs_s", t.epoch_s}, {"steps_s", t.steps_s}, {"data_wait_s", t.data_wait_s},
          {"val_s", t.val_s}, {"checkpoint_s", t.checkpoint_s}};
}

}  // namespace

nlohmann::json summary_json(const Config& cfg, const TrainResult& r, const std::string& started,
                            int world) {
  return {{"complete", true},
          {"output_dir", cfg.output_dir},
          {"dataset", cfg.dataset},
          {"model", cfg.model},
          {"use_slot", cfg.use_slot},
          {"loss_status", cfg.loss_status},
          {"lambda_value", cfg.lambda_value},
          {"slots_per_class", cfg.slots_per_class},
          {"power", cfg.power},
          {"num_classes", cfg.num_classes},
          {"seed", cfg.seed},
          {"epochs", cfg.epochs},
          {"world_size", world},
          {"final_val_acc", r.final_val_acc},
          {"best_val_acc", r.best_val_acc},
          {"best_epoch", r.best_epoch},
          {"final_val_area", cfg.use_slot ? nlohmann::json(r.final_val_area) : nlohmann::json()},
          {"train_images_per_s", r.train_images_per_s},
          {"total_seconds", r.total_seconds},
          {"epoch_times", epoch_times_json(r.epoch_times)},
          {"started", started},
          {"version", str_format("{} ({})", SCOUTER_VERSION, SCOUTER_GIT_VERSION)}};
}

TrainResult result_from_summary(const std::string& path) {
  TrainResult r;
  r.already_complete = true;
  auto j = nlohmann::json::parse(read_text_file(path), nullptr, false);
  if (j.is_discarded()) return r;
  r.final_val_acc = j.value("final_val_acc", 0.0);
  r.best_val_acc = j.value("best_val_acc", 0.0);
  r.best_epoch = j.value("best_epoch", int64_t{-1});
  if (j.contains("final_val_area") && j["final_val_area"].is_number())
    r.final_val_area = j["final_val_area"].get<double>();
  r.train_images_per_s = j.value("train_images_per_s", 0.0);
  r.total_seconds = j.value("total_seconds", 0.0);
  return r;
}

}  // namespace scouter
