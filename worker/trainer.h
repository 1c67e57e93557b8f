// Trains one run in one process: data from shards, the model, AdamW with a step schedule,
// evaluation every epoch, metrics.jsonl, a checkpoint per epoch (atomic, last keep_checkpoints
// kept) and exact resume; at the end summary.json (the run's completion marker) and, with
// vis = true, the attention pictures.
//
// Run folder (output_dir):
//   config.toml          resolved config
//   metrics.jsonl        one record per epoch
//   checkpoints/         epoch-NNNN.h5 (worker/checkpoint.h)
//   summary.json         written last: final and best accuracy, area, speed, time
//   vis/                 pictures (worker/vis.h)
#pragma once

#include <string>

#include "common/config.h"

namespace scouter {

struct TrainResult {
  double final_val_acc = 0, best_val_acc = 0, final_val_area = 0;
  int64_t best_epoch = -1, epochs_run = 0;
  double train_images_per_s = 0, total_seconds = 0;
  bool already_complete = false;
};

TrainResult train_run(const Config& cfg, const Origins& origins = {});

// Intra-op threads to use: `requested`, or the cores this process may run on when 0.
int64_t resolve_threads(int64_t requested);
// Sets LibTorch's intra-op threads (the VM default is 1) and returns the count.
int64_t configure_threads(int64_t requested);

}  // namespace scouter
