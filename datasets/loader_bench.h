// Speed of the batch loader alone (datasets/batch_loader.h) over a folder of shards: shuffled,
// normalised float batches as training gets them, no model. `scouter bench --loader DIR`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

struct LoaderBenchOptions {
  std::string dir;
  std::string split = "train";
  int64_t batch_size = 64;
  int64_t epochs = 2;    // the first reads the shard files, later ones are served from memory
  int64_t threads = 0;   // loader threads; 0: the loader's default
  int64_t img_size = 0;  // 0: the stored size
  bool aug = false;
};

struct LoaderBenchEpoch {
  int64_t images = 0;
  double seconds = 0, images_per_s = 0;
};

struct LoaderBenchResult {
  int64_t channels = 0, height = 0, width = 0, batch_size = 0, threads = 0;
  std::vector<LoaderBenchEpoch> epochs;
};

LoaderBenchResult run_loader_bench(const LoaderBenchOptions& opt);

// Markdown table of the result, one row per epoch.
std::string loader_bench_table(const LoaderBenchResult& r);

}  // namespace scouter
