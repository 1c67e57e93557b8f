#include "datasets/loader_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/error.h"
#include "datasets/batch_loader.h"
#include "datasets/shard_reader.h"

namespace scouter {

LoaderBenchResult run_loader_bench(const LoaderBenchOptions& opt) {
  auto shards = ShardSet::open(opt.dir, opt.split);
  if (shards->size() < opt.batch_size)
    throw UserError(fmt::format("'{}' holds {} {} samples, fewer than one batch of {}", opt.dir,
                                shards->size(), opt.split, opt.batch_size),
                    "use a smaller --batch_size");
  LoaderOptions lo;
  lo.batch_size = opt.batch_size;
  lo.img_size = opt.img_size;
  lo.aug = opt.aug;
  lo.threads = opt.threads;
  BatchLoader loader(shards, lo);
  LoaderBenchResult r;
  r.channels = shards->meta().channels;
  r.height = loader.out_height();
  r.width = loader.out_width();
  r.batch_size = opt.batch_size;
  r.threads = opt.threads > 0 ? opt.threads
                              : std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, 4);
  for (int64_t e = 0; e < opt.epochs; ++e) {
    auto start = std::chrono::steady_clock::now();
    loader.start_epoch(e);
    LoaderBenchEpoch ep;
    while (auto batch = loader.next()) ep.images += batch->size;
    ep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ep.images_per_s = ep.images / std::max(ep.seconds, 1e-9);
    r.epochs.push_back(ep);
  }
  return r;
}

std::string loader_bench_table(const LoaderBenchResult& r) {
  std::string out =
      "| epoch | batch | image | loader threads | images | s | images/s |\n"
      "| --- | --- | --- | --- | --- | --- | --- |\n";
  for (size_t e = 0; e < r.epochs.size(); ++e)
    out +=
        fmt::format("| {}{} | {} | {}x{}x{} | {} | {} | {:.2f} | {:.0f} |\n", e,
                    e == 0 ? " (reads shards)" : "", r.batch_size, r.channels, r.height, r.width,
                    r.threads, r.epochs[e].images, r.epochs[e].seconds, r.epochs[e].images_per_s);
  return out;
}

}  // namespace scouter
