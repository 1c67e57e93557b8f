// Serves training and evaluation batches from a ShardSet: a seeded shuffle per epoch, optional
// resize to img_size and augmentation, normalisation with the shard's mean/std, and a background
// thread that prepares the next batches while the model trains on the current one.
// The order of epoch e depends only on (seed, e) and the index list, so runs reproduce exactly
// and a resumed run can skip to any batch.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "datasets/image_ops.h"
#include "datasets/shard_reader.h"

namespace scouter {

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = true;
  uint64_t seed = 0;
  int64_t img_size = 0;  // 0: stored size
  bool aug = false;
  int64_t prefetch = 2;  // batches prepared ahead
  int64_t threads = 0;   // threads building one batch; 0: up to 4 (the results do not depend on it)
  // Raw batches for a GPU input path (worker/train/device_input.h): the stored uint8 pixels and
  // each row's augmentation parameters; resizing, augmenting and normalising happen there.
  bool raw = false;
  // Split-wide sample indices to serve (e.g. the samples of the first num_classes classes,
  // or one rank's part); empty means every sample.
  std::vector<int64_t> indices;
  // When set, the epoch's samples come from here instead (split-wide indices in serving order,
  // the same count every epoch): a rank's part of a distributed plan (datasets/data_plan.h).
  std::function<std::vector<int64_t>(int64_t epoch)> plan;
};

struct Batch {
  int64_t size = 0;
  int64_t channels = 0, height = 0, width = 0;  // of `images`, or of `pixels` in raw mode
  std::vector<float> images;     // size x C x H x W, normalised (empty in raw mode)
  // Raw mode: size x C x H x W stored pixels, and per row the augmentation the float path would
  // apply (empty when the batch is not augmented).
  std::vector<uint8_t> pixels;
  std::vector<AugmentParams> augment;
  std::vector<int64_t> labels;   // size
  std::vector<int64_t> indices;  // split-wide sample index of each row
};

class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<ShardSet> shards, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t num_samples() const { return static_cast<int64_t>(indices_.size()); }
  int64_t batches_per_epoch() const;
  int64_t out_height() const;
  int64_t out_width() const;

  // Starts epoch `epoch` (its order), skipping its first `skip_batches` batches.
  void start_epoch(int64_t epoch, int64_t skip_batches = 0);
  // The next batch of the current epoch, or nullopt when the epoch is done.
  std::optional<Batch> next();

  // Builds one batch synchronously from explicit split-wide indices (evaluation, pictures).
  Batch make_batch(const std::vector<int64_t>& indices, int64_t epoch, bool augment) const;
  // The same rows as raw pixels plus augmentation parameters (LoaderOptions::raw).
  Batch make_raw_batch(const std::vector<int64_t>& indices, int64_t epoch, bool augment) const;
  bool raw() const { return opt_.raw; }

  // The permutation of epoch `epoch` (positions into the index list), exposed for tests.
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // The split-wide samples of epoch `epoch` in serving order (the plan's, or the shuffle's).
  std::vector<int64_t> epoch_samples(int64_t epoch) const;

 private:
  void stop_worker();
  void worker_loop(int64_t epoch, int64_t first_batch, uint64_t generation);

  std::shared_ptr<ShardSet> shards_;
  LoaderOptions opt_;
  std::vector<int64_t> indices_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  bool producer_done_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  int64_t consumed_ = 0;
  int64_t total_batches_ = 0;
  uint64_t generation_ = 0;  // bumped by start_epoch: a worker of an older epoch stops
  std::thread worker_;
};

// The evaluation transform of one stored sample (C x height x width of `meta`), what
// make_batch does to a row without augmentation: resized to out_h x out_w through uint8 (PIL's
// bilinear) when that is not the stored size, then (v / 255 - mean) / std per channel with
// meta's statistics. out: C x out_h x out_w.
void eval_transform(const uint8_t* stored, const ShardMeta& meta, int64_t out_h, int64_t out_w,
                    float* out);

// Deterministic 64-bit mixing (splitmix64) used for every seed derived in the project.
uint64_t mix_seed(uint64_t a, uint64_t b);

}  // namespace scouter
