// The run folder's records: refusing to overwrite a run, the per-epoch metrics record, and
// summary.json (the completion marker a finished run leaves, read back when a finished run is
// resumed).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "worker/train/evaluate.h"
#include "worker/comm/grad_sync.h"
#include "worker/train/trainer.h"

namespace scouter {

// UserError when output_dir already holds a run and resume is false.
void check_output_dir(const Config& cfg);

std::string now_iso();

// One metrics.jsonl line (fields listed in docs/formats.md). It is written before the epoch's
// checkpoint, so it holds no checkpoint time (summary.json's epoch_times does).
nlohmann::json epoch_record(int64_t epoch, double lr, double train_loss, double train_nll,
                            double train_attn, double train_acc, const EvalResult& ev,
                            bool use_slot, double images_per_s, double train_s,
                            double data_wait_s, const GradSyncStats& sync);

nlohmann::json summary_json(const Config& cfg, const TrainResult& r, const std::string& started,
                            int world);
TrainResult result_from_summary(const std::string& path);

}  // namespace scouter
