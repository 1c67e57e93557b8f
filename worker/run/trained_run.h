// A trained (or imported) run, opened by a command that reads it: evaluate, explain (over the
// validation set and over --image files), vis and export. Every one of them takes the same steps
// in the same order, here and nowhere else:
//   1. the checkpoint: the newest complete one that verifies (checkpoint.h
//      latest_verified_checkpoint; a newer one that does not verify is named in a warning and
//      skipped), or one UserError naming the command and the folder;
//   2. the config: the one stored in that checkpoint, with the command line's keys on top;
//      architecture keys are refused (trained_run_config), the result is validated;
//   3. the ranks, threads and device (worker/comm Distributed, device.h);
//   4. the data: one split of cfg.dataset_dir, this rank's part or all of it; and what the run
//      keeps of its dataset, RUN/dataset.json (datasets/dataset_info.h), checked against the
//      shards. A command that reads no image of the dataset (explain --image) takes the sample
//      form from dataset.json alone and opens no shards (a run made before dataset.json: from
//      the shards, as before);
//   5. the refusal checks: command-line keys that change what the model sees (img_size, dataset,
//      loss_status) are refused against the trained values (refuse_input_changes);
//   6. the model: the checkpoint's weights, in eval mode, on the device.
// Steps 1-2 alone (read_trained_run, open_trained_run) serve commands that need no data (export).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "common/config.h"
#include "datasets/batch_loader.h"
#include "datasets/dataset_info.h"
#include "datasets/shard_format.h"
#include "worker/comm/distributed.h"
#include "worker/model/scouter_model.h"
#include "worker/run/checkpoint.h"

namespace scouter {

struct TrainedRun {
  std::string dir;      // the run folder as given
  std::string ckpt;     // the checkpoint read: the newest that verifies
  CheckpointInfo info;  // its header (epoch, steps, ...)
  Config trained;       // the config stored in it, as trained
  Config cfg;           // what the command runs with (read_trained_run: the stored config)
};

// Steps 1-2 without a command line: cfg is the stored config. UserError "<command>: no
// checkpoint in 'RUN/checkpoints' ..." when no checkpoint is complete and verifies.
TrainedRun read_trained_run(const std::string& run_dir, const std::string& command);

// Steps 1-2: read_trained_run, then cfg = trained_run_config(...) with the keys the command line
// set (`origins`) taken from `request`, validated.
TrainedRun open_trained_run(const std::string& run_dir, const Config& request,
                            const Origins& origins, const std::string& command);

// The config stored in checkpoint `ckpt`, with the keys the command line set (`origins`) taken
// from `request`; architecture keys are refused (UserError naming `command`). output_dir
// becomes run_dir; use_pre, pre_checkpoint and pretrained are cleared (the weights come from the
// checkpoint); dataset_dir is expanded here (common/env_paths.h).
Config trained_run_config(const std::string& ckpt, const CheckpointInfo& info,
                          const std::string& run_dir, const Config& request,
                          const Origins& origins, const std::string& command);

// Step 5: UserError when the command line changes what the model sees or how its logits are
// read, compared with training (`trained_cfg`): img_size as an input size (0 is the shards'
// stored size, `stored_size`), dataset, loss_status. Model keys are refused earlier, by
// trained_run_config.
void refuse_input_changes(const Config& trained_cfg, const Config& cfg, const Origins& origins,
                          int64_t stored_size, const std::string& command);

// Step 6: the model of run.ckpt built from run.cfg for in_chans image channels, in eval mode on
// `device`.
ScouterModel load_trained_model(const TrainedRun& run, int64_t in_chans, torch::Device device);

struct LoadOptions {
  std::string command;        // names the command in messages: "evaluate", "explain", "vis"
  std::string split = "val";  // "val" or "train"
  // false: the loader serves all of the split on every rank (a command that picks its own
  // samples: explain, vis); true: this rank's contiguous part of it (evaluate).
  bool rank_part = false;
  // false: the command reads no image of the dataset (explain --image): no shards, no loader.
  bool read_images = true;
};

// Steps 1-6: a trained run ready to compute on this rank. The members are set up in the order
// declared, which is the order above.
class LoadedRun {
 public:
  LoadedRun(const std::string& run_dir, const Config& request, const Origins& origins,
            const LoadOptions& options);

  const Config& cfg() const { return run.cfg; }
  // The samples' form: the split's meta, or (no images read) dataset.json's.
  const ShardMeta& meta() const { return meta_; }
  // The model's input size: img_size, or the stored size where it is 0.
  int64_t input_height() const { return run.cfg.img_size > 0 ? run.cfg.img_size : meta_.height; }
  int64_t input_width() const { return run.cfg.img_size > 0 ? run.cfg.img_size : meta_.width; }

  TrainedRun run;
  Distributed dist;
  int64_t threads;
  torch::Device device;
  std::shared_ptr<ShardSet> shards;     // the split (null when read_images is false)
  std::unique_ptr<BatchLoader> loader;  // evaluation order, no augmentation, last batch kept
  DatasetInfo dataset;  // RUN/dataset.json; for a run made before it, made from the shards
  ScouterModel model{nullptr};

 private:
  void open_data(const Origins& origins, const LoadOptions& options);
  ShardMeta meta_;
};

// What the run keeps of its dataset: RUN/dataset.json when there is one (checked against the
// run's config), else nullopt. UserError naming the file when it is wrong or describes another
// dataset than the run's config.
std::optional<DatasetInfo> run_dataset_info(const TrainedRun& run);

}  // namespace scouter
