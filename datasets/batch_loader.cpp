#include "datasets/batch_loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "common/error.h"
#include "datasets/image_ops.h"
#include "datasets/rng.h"

namespace scouter {
namespace {
// Threads that build one batch when LoaderOptions::threads is 0: enough to keep ahead of a GPU
// on resized, augmented images, few enough to leave cores to the other ranks of a node.
constexpr int64_t kMaxAutoThreads = 4;
}  // namespace

uint64_t mix_seed(uint64_t a, uint64_t b) {
  // Mix a first so that (a, b) and (b, a) give unrelated seeds.
  return splitmix64_mix(splitmix64_mix(a + SplitMix64::kGolden) + (b + 1) * SplitMix64::kGolden);
}

BatchLoader::BatchLoader(std::shared_ptr<ShardSet> shards, LoaderOptions options)
    : shards_(std::move(shards)), opt_(std::move(options)) {
  SCOUTER_CHECK(shards_ != nullptr, "a loader needs a shard set");
  SCOUTER_CHECK(opt_.batch_size >= 1, "batch_size must be positive");
  SCOUTER_CHECK(opt_.prefetch >= 1, "prefetch must be positive");
  SCOUTER_CHECK(opt_.img_size >= 0, "img_size must be 0 or positive");
  if (opt_.threads <= 0)
    opt_.threads = std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, kMaxAutoThreads);
  if (opt_.indices.empty()) {
    indices_.resize(static_cast<size_t>(shards_->size()));
    std::iota(indices_.begin(), indices_.end(), int64_t{0});
  } else {
    indices_ = opt_.indices;
    for (int64_t i : indices_)
      SCOUTER_CHECK(
          i >= 0 && i < shards_->size(),
          fmt::format("sample index {} outside the split's {} samples", i, shards_->size()));
  }
}

BatchLoader::~BatchLoader() { stop_worker(); }

int64_t BatchLoader::batches_per_epoch() const {
  int64_t n = opt_.plan ? static_cast<int64_t>(opt_.plan(0).size()) : num_samples();
  return opt_.drop_last ? n / opt_.batch_size : (n + opt_.batch_size - 1) / opt_.batch_size;
}

int64_t BatchLoader::out_height() const {
  return opt_.img_size ? opt_.img_size : shards_->meta().height;
}

int64_t BatchLoader::out_width() const {
  return opt_.img_size ? opt_.img_size : shards_->meta().width;
}

std::vector<int64_t> BatchLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(indices_.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!opt_.shuffle) return order;
  SplitMix64 rng(mix_seed(opt_.seed, static_cast<uint64_t>(epoch)));
  for (size_t i = order.size(); i > 1; --i) {  // Fisher-Yates, from the back
    auto j = static_cast<size_t>(rng.below(i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::vector<int64_t> BatchLoader::epoch_samples(int64_t epoch) const {
  if (opt_.plan) return opt_.plan(epoch);
  std::vector<int64_t> order = epoch_order(epoch);
  for (auto& k : order) k = indices_[static_cast<size_t>(k)];
  return order;
}

namespace {

// A stored image as floats at oh x ow (still 0..255): through uint8 when resized, as the
// published pipeline (PIL resize, then ToTensor) does. `scratch` is reused between calls.
void resize_to_float(const uint8_t* px, int c, int h, int w, int oh, int ow, float* out,
                     std::vector<uint8_t>& scratch) {
  const size_t sample = static_cast<size_t>(c) * oh * ow;
  if (oh != h || ow != w) {
    scratch.resize(sample);
    resize_bilinear_u8(px, c, h, w, scratch.data(), oh, ow);
    std::copy(scratch.begin(), scratch.end(), out);
  } else {
    std::copy(px, px + sample, out);
  }
}

// (v / 255 - mean) / std per channel, in its affine form.
class Normaliser {
 public:
  explicit Normaliser(const ShardMeta& meta) {
    for (int64_t ch = 0; ch < meta.channels; ++ch) {
      gain_.push_back(static_cast<float>(1.0 / (255.0 * meta.std[ch])));
      offset_.push_back(static_cast<float>(-meta.mean[ch] / meta.std[ch]));
    }
  }
  void operator()(float* img, size_t plane) const {
    for (size_t ch = 0; ch < gain_.size(); ++ch) {
      float* v = img + ch * plane;
      for (size_t k = 0; k < plane; ++k) v[k] = v[k] * gain_[ch] + offset_[ch];
    }
  }

 private:
  std::vector<float> gain_, offset_;
};

}  // namespace

void eval_transform(const uint8_t* stored, const ShardMeta& meta, int64_t out_h, int64_t out_w,
                    float* out) {
  std::vector<uint8_t> scratch;
  resize_to_float(stored, static_cast<int>(meta.channels), static_cast<int>(meta.height),
                  static_cast<int>(meta.width), static_cast<int>(out_h), static_cast<int>(out_w),
                  out, scratch);
  const Normaliser normalise(meta);
  normalise(out, static_cast<size_t>(out_h * out_w));
}

Batch BatchLoader::make_batch(const std::vector<int64_t>& indices, int64_t epoch,
                              bool augment) const {
  const ShardMeta& meta = shards_->meta();
  const int c = static_cast<int>(meta.channels);
  const int h = static_cast<int>(meta.height), w = static_cast<int>(meta.width);
  const int oh = static_cast<int>(out_height()), ow = static_cast<int>(out_width());
  const size_t plane = static_cast<size_t>(oh) * ow;
  const size_t sample = static_cast<size_t>(c) * plane;

  Batch b;
  b.size = static_cast<int64_t>(indices.size());
  b.channels = c;
  b.height = oh;
  b.width = ow;
  b.images.resize(sample * indices.size());
  b.indices = indices;
  for (int64_t index : indices) {
    SCOUTER_CHECK(
        index >= 0 && index < shards_->size(),
        fmt::format("sample index {} outside the split's {} samples", index, shards_->size()));
    b.labels.push_back(shards_->labels()[static_cast<size_t>(index)]);
  }
  const Normaliser normalise(meta);
  const uint64_t epoch_seed = mix_seed(opt_.seed, static_cast<uint64_t>(epoch));
  // A row depends only on its sample index and the seeds, so any split across threads gives
  // the same batch.
  auto fill_rows = [&](size_t begin, size_t end) {
    std::vector<uint8_t> resized;
    for (size_t r = begin; r < end; ++r) {
      int64_t index = indices[r];
      float* out = b.images.data() + r * sample;
      resize_to_float(shards_->image(index), c, h, w, oh, ow, out, resized);
      if (augment) {
        AugmentParams p =
            draw_augment(mix_seed(epoch_seed, static_cast<uint64_t>(index)), meta.flip_allowed);
        apply_augment(p, out, c, oh, ow);
      }
      normalise(out, plane);
    }
  };
  size_t threads =
      std::min(static_cast<size_t>(std::max<int64_t>(opt_.threads, 1)), indices.size());
  if (threads <= 1) {
    fill_rows(0, indices.size());
    return b;
  }
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> pool;
  auto chunk = [&](size_t t) { return indices.size() * t / threads; };
  for (size_t t = 1; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        fill_rows(chunk(t), chunk(t + 1));
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  try {
    fill_rows(0, chunk(1));
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return b;
}

Batch BatchLoader::make_raw_batch(const std::vector<int64_t>& indices, int64_t epoch,
                                  bool augment) const {
  const ShardMeta& meta = shards_->meta();
  const size_t sample = static_cast<size_t>(meta.channels * meta.height * meta.width);
  Batch b;
  b.size = static_cast<int64_t>(indices.size());
  b.channels = meta.channels;
  b.height = meta.height;
  b.width = meta.width;
  b.indices = indices;
  b.pixels.resize(sample * indices.size());
  const uint64_t epoch_seed = mix_seed(opt_.seed, static_cast<uint64_t>(epoch));
  for (size_t r = 0; r < indices.size(); ++r) {
    const int64_t index = indices[r];
    SCOUTER_CHECK(
        index >= 0 && index < shards_->size(),
        fmt::format("sample index {} outside the split's {} samples", index, shards_->size()));
    b.labels.push_back(shards_->labels()[static_cast<size_t>(index)]);
    const uint8_t* px = shards_->image(index);
    std::copy(px, px + sample, b.pixels.data() + r * sample);
    // The same draw as make_batch's, so both paths augment a row alike.
    if (augment)
      b.augment.push_back(
          draw_augment(mix_seed(epoch_seed, static_cast<uint64_t>(index)), meta.flip_allowed));
  }
  return b;
}

void BatchLoader::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void BatchLoader::start_epoch(int64_t epoch, int64_t skip_batches) {
  SCOUTER_CHECK(skip_batches >= 0, "skip_batches must not be negative");
  stop_worker();
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.clear();
    producer_done_ = false;
    stop_ = false;
    error_ = nullptr;
    total_batches_ = batches_per_epoch();
    consumed_ = std::min(skip_batches, total_batches_);
    generation = ++generation_;
  }
  worker_ = std::thread(&BatchLoader::worker_loop, this, epoch, consumed_, generation);
}

void BatchLoader::worker_loop(int64_t epoch, int64_t first_batch, uint64_t generation) {
  try {
    std::vector<int64_t> samples = epoch_samples(epoch);
    const auto n = static_cast<int64_t>(samples.size());
    for (int64_t bi = first_batch; bi < total_batches_; ++bi) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock,
                 [&] { return stop_ || static_cast<int64_t>(queue_.size()) < opt_.prefetch; });
        if (stop_ || generation != generation_) return;
      }
      int64_t begin = bi * opt_.batch_size, end = std::min(begin + opt_.batch_size, n);
      std::vector<int64_t> rows;
      rows.reserve(static_cast<size_t>(end - begin));
      rows.assign(samples.begin() + begin, samples.begin() + end);
      Batch batch = opt_.raw ? make_raw_batch(rows, epoch, opt_.aug) : make_batch(rows, epoch, opt_.aug);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return;
        queue_.push_back(std::move(batch));
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    producer_done_ = true;
  }
  cv_.notify_all();
}

std::optional<Batch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  SCOUTER_CHECK(worker_.joinable(), "next() before start_epoch()");
  cv_.wait(lock, [&] { return !queue_.empty() || producer_done_; });
  if (!queue_.empty()) {
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    ++consumed_;
    lock.unlock();
    cv_.notify_all();
    return b;
  }
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;  // reported once; the epoch then ends
    std::rethrow_exception(e);
  }
  return std::nullopt;
}

}  // namespace scouter
