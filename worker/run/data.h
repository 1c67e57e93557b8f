// Opens a run's training and validation shards as the config asks: checks num_classes against
// the dataset, keeps the samples of the first num_classes classes, and builds the loaders.
#pragma once

#include <memory>

#include "common/config.h"
#include "datasets/batch_loader.h"
#include "datasets/data_plan.h"

namespace scouter {

struct RunData {
  std::shared_ptr<ShardSet> train, val;
  std::shared_ptr<const DataPlan> plan;  // training plan (null without train)
  std::unique_ptr<BatchLoader> train_loader, val_loader;
  int64_t in_chans = 0;
};

// Loaders for rank `rank` of `world`: train follows the data plan (datasets/data_plan.h; the
// samples of the first num_classes classes, shuffled per (seed, epoch, world x accum_steps),
// drop_last, aug; with accum_steps = K each step's K micro-batches one after the other),
// val is this rank's contiguous part of the validation samples, in order.
// raw: loaders serve raw batches (stored pixels, augmentation parameters) for the GPU input
// path, worker/train/device_input.h.
RunData open_run_data(const Config& cfg, bool with_train = true, int rank = 0, int world = 1,
                      bool raw = false);

// An evaluation loader over `split` ("val" or "train") of cfg.dataset_dir: the samples of the
// first num_classes classes in order, this rank's contiguous part, no augmentation, the last
// batch kept. The shard set is returned in *shards. UserError naming the split when it is empty.
std::unique_ptr<BatchLoader> open_eval_loader(const Config& cfg, const std::string& split, int rank,
                                              int world, std::shared_ptr<ShardSet>* shards,
                                              bool raw = false);

// Indices of the samples whose label is below num_classes.
std::vector<int64_t> samples_of_first_classes(const ShardSet& shards, int64_t num_classes);

}  // namespace scouter
