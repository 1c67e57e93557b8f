#include "datasets/image_convert.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "datasets/image_decode.h"
#include "datasets/image_ops.h"

namespace scouter {
namespace {

// One shard being converted: a slot per source image, filled by whichever thread gets it.
struct Work {
  const ShardJob* job = nullptr;
  int64_t sample_bytes = 0;
  std::vector<uint8_t> images;  // source_count slots
  std::vector<float> boxes;
  std::vector<std::string> errors;            // "" for a good image
  std::vector<std::array<uint64_t, 6>> sums;  // per image: sum and sum of squares per channel
  std::atomic<int64_t> remaining{0};
};

void convert_slot(const ConvertSettings& s, Work& w, int64_t i) {
  const ShardPlan& plan = *w.job->plan;
  const SourceImage& src = (*w.job->sources)[static_cast<size_t>(plan.source_first + i)];
  uint8_t* dst = w.images.data() + i * w.sample_bytes;
  try {
    convert_image(s.root + "/" + src.path, s.img_size, src.box, dst,
                  &w.boxes[static_cast<size_t>(i) * 4]);
  } catch (const BadImage& e) {
    w.errors[static_cast<size_t>(i)] = e.what();
    return;
  }
  const int64_t plane = s.img_size * s.img_size;
  auto& sum = w.sums[static_cast<size_t>(i)];
  for (int c = 0; c < 3; ++c) {
    uint64_t a = 0, q = 0;
    for (const uint8_t* p = dst + c * plane; p != dst + (c + 1) * plane; ++p) {
      a += *p;
      q += static_cast<uint64_t>(*p) * *p;
    }
    sum[static_cast<size_t>(c)] = a;
    sum[static_cast<size_t>(c) + 3] = q;
  }
}

// Good images moved to the front, in source order; bad ones listed with their reason.
ShardContent compact(const ConvertSettings& s, Work& w) {
  const ShardPlan& plan = *w.job->plan;
  ShardContent c;
  for (int64_t i = 0; i < plan.source_count; ++i) {
    const SourceImage& src = (*w.job->sources)[static_cast<size_t>(plan.source_first + i)];
    const std::string& err = w.errors[static_cast<size_t>(i)];
    if (!err.empty()) {
      c.bad.push_back(src.path + ": " + err);
      continue;
    }
    if (c.count != i)
      std::memmove(w.images.data() + c.count * w.sample_bytes, w.images.data() + i * w.sample_bytes,
                   static_cast<size_t>(w.sample_bytes));
    c.labels.push_back(src.label);
    c.source_paths.push_back(src.path);
    c.boxes.insert(c.boxes.end(), w.boxes.begin() + i * 4, w.boxes.begin() + i * 4 + 4);
    const auto& sum = w.sums[static_cast<size_t>(i)];
    for (size_t k = 0; k < 3; ++k) {
      c.pixel_sum[k] += static_cast<double>(sum[k]) / 255.0;
      c.pixel_sumsq[k] += static_cast<double>(sum[k + 3]) / (255.0 * 255.0);
    }
    ++c.count;
  }
  w.images.resize(static_cast<size_t>(c.count * w.sample_bytes));
  c.images = std::move(w.images);
  return c;
}

std::unique_ptr<Work> make_work(const ConvertSettings& s, const ShardJob& job) {
  auto w = std::make_unique<Work>();
  auto n = static_cast<size_t>(job.plan->source_count);
  w->job = &job;
  w->sample_bytes = 3 * s.img_size * s.img_size;
  w->images.resize(n * static_cast<size_t>(w->sample_bytes));
  w->boxes.assign(n * 4, -1.f);
  w->errors.assign(n, {});
  w->sums.assign(n, {});
  w->remaining = static_cast<int64_t>(n);
  return w;
}

// Threads taking (shard, image) tasks from one queue.
class Pool {
 public:
  Pool(const ConvertSettings& s, int threads) : settings_(s) {
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    task_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void submit(Work* w) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int64_t i = 0; i < w->job->plan->source_count; ++i) tasks_.emplace_back(w, i);
    }
    task_cv_.notify_all();
  }

  // Waits until w is complete; reports finished images through progress meanwhile.
  void wait(Work* w, const std::function<void(int64_t)>& progress) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (error_) std::rethrow_exception(error_);
      int64_t n = finished_ - reported_;
      reported_ = finished_;
      if (n > 0) {
        lock.unlock();
        progress(n);
        lock.lock();
        continue;
      }
      if (w->remaining.load() == 0) return;
      done_cv_.wait_for(lock, std::chrono::milliseconds(200));
    }
  }

 private:
  void loop() {
    for (;;) {
      std::pair<Work*, int64_t> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        task_cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
        if (stop_) return;
        task = tasks_.front();
        tasks_.pop_front();
      }
      try {
        convert_slot(settings_, *task.first, task.second);
      } catch (...) {  // not a bad image (those are recorded): memory, a bug
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
      }
      task.first->remaining.fetch_sub(1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++finished_;
      }
      done_cv_.notify_one();
    }
  }

  const ConvertSettings& settings_;
  std::mutex mu_;
  std::condition_variable task_cv_, done_cv_;
  std::deque<std::pair<Work*, int64_t>> tasks_;
  bool stop_ = false;
  std::exception_ptr error_;
  int64_t finished_ = 0, reported_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace

void store_decoded_image(const RgbImage& img, int channels, int height, int width,
                         const std::array<float, 4>& box, uint8_t* dst, float* box_out) {
  SCOUTER_CHECK(channels == 1 || channels == 3, "stored images have 1 or 3 channels");
  if (channels == 3) {
    resize_bilinear_u8(img.planar.data(), 3, img.height, img.width, dst, height, width);
  } else {
    std::vector<uint8_t> gray(static_cast<size_t>(img.height) * img.width);
    rgb_to_luma(img, gray.data());
    resize_bilinear_u8(gray.data(), 1, img.height, img.width, dst, height, width);
  }
  std::fill(box_out, box_out + 4, -1.f);
  if (box[2] < 0) return;
  // Stored pixels: each axis scaled by its own factor (the resize is not aspect-preserving).
  const double sw = width, sh = height;
  double sx = sw / img.width, sy = sh / img.height;
  double x1 = std::clamp(box[0] * sx, 0.0, sw), y1 = std::clamp(box[1] * sy, 0.0, sh);
  double x2 = std::clamp((box[0] + box[2]) * sx, 0.0, sw);
  double y2 = std::clamp((box[1] + box[3]) * sy, 0.0, sh);
  box_out[0] = static_cast<float>(x1);
  box_out[1] = static_cast<float>(y1);
  box_out[2] = static_cast<float>(x2 - x1);
  box_out[3] = static_cast<float>(y2 - y1);
}

void rgb_to_luma(const RgbImage& img, uint8_t* out) {
  const size_t plane = static_cast<size_t>(img.height) * img.width;
  const uint8_t* r = img.planar.data();
  const uint8_t* g = r + plane;
  const uint8_t* b = g + plane;
  // PIL's L24 in fixed point: (299, 587, 114) / 1000 as 16-bit fractions, rounded.
  for (size_t i = 0; i < plane; ++i)
    out[i] = static_cast<uint8_t>((r[i] * 19595u + g[i] * 38470u + b[i] * 7471u + 0x8000u) >> 16);
}

void convert_image(const std::string& path, int64_t img_size, const std::array<float, 4>& box,
                   uint8_t* dst, float* box_out) {
  thread_local RgbImage img;
  thread_local std::vector<uint8_t> file;
  decode_image_file(path, &img, &file);
  const int s = static_cast<int>(img_size);
  // A box with nothing left inside the image would be stored as an empty box that every box
  // metric silently skips or divides by: the sample is bad instead (counted against
  // --max_bad_fraction). A box partly outside is clipped.
  if (box[2] >= 0) {
    const double w = img.width, h = img.height;
    if (std::min<double>(box[0] + box[2], w) <= std::max<double>(box[0], 0) ||
        std::min<double>(box[1] + box[3], h) <= std::max<double>(box[1], 0))
      throw BadImage(fmt::format("its box (x {}, y {}, w {}, h {}) lies outside the {}x{} image",
                                 box[0], box[1], box[2], box[3], img.width, img.height));
  }
  store_decoded_image(img, 3, s, s, box, dst, box_out);
}

void convert_shards(const ConvertSettings& settings, const std::vector<ShardJob>& jobs, int threads,
                    const std::function<void(size_t, ShardContent&&)>& done,
                    const std::function<void(int64_t)>& progress) {
  SCOUTER_CHECK(threads >= 1, "convert_shards needs a thread");
  if (threads == 1) {  // the plain loop: decode, resize, next
    for (size_t k = 0; k < jobs.size(); ++k) {
      auto w = make_work(settings, jobs[k]);
      for (int64_t i = 0; i < jobs[k].plan->source_count; ++i) {
        convert_slot(settings, *w, i);
        progress(1);
      }
      done(k, compact(settings, *w));
    }
    return;
  }
  // Declared before the pool, so the pool's threads are joined before the work they touch goes.
  std::deque<std::pair<size_t, std::unique_ptr<Work>>> in_flight;
  Pool pool(settings, threads);
  size_t next = 0;
  while (next < jobs.size() || !in_flight.empty()) {
    while (next < jobs.size() && in_flight.size() < 2) {
      in_flight.emplace_back(next, make_work(settings, jobs[next]));
      pool.submit(in_flight.back().second.get());
      ++next;
    }
    pool.wait(in_flight.front().second.get(), progress);
    size_t k = in_flight.front().first;
    ShardContent content = compact(settings, *in_flight.front().second);
    in_flight.pop_front();
    done(k, std::move(content));
  }
}

}  // namespace scouter
