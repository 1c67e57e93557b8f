// Opens a run's training and validation shards as the config asks: checks num_classes against
// the dataset, keeps the samples of the first num_classes classes, and builds the loaders.
#pragma once

#include <memory>

#include "common/config.h"
#include "datasets/batch_loader.h"

namespace scouter {

struct RunData {
  std::shared_ptr<ShardSet> train, val;
  std::unique_ptr<BatchLoader> train_loader, val_loader;
  int64_t in_chans = 0;
};

// Loaders: train shuffled with drop_last (and aug), val in order with every sample.
RunData open_run_data(const Config& cfg, bool with_train = true);

// Indices of the samples whose label is below num_classes.
std::vector<int64_t> samples_of_first_classes(const ShardSet& shards, int64_t num_classes);

}  // namespace scouter
