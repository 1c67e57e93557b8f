// Turns the source images of shards into shard content: decode (datasets/image_decode.h),
// resize to img_size x img_size with PIL's bilinear filter (resize_bilinear_u8), rescale the
// box. A pool of threads does the images; two shards are in flight, so the caller writes one
// while the pool decodes the next. With one thread everything runs in the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "datasets/image_layouts.h"
#include "datasets/image_shards.h"

namespace scouter {

struct ConvertSettings {
  std::string root;  // folder the source paths are relative to
  int64_t img_size = 260;
};

struct ShardJob {
  const ShardPlan* plan = nullptr;
  const std::vector<SourceImage>* sources = nullptr;  // the split's listing
};

// Converts the jobs in order. `done(k, content)` runs in the calling thread for job k, in job
// order (bad images are in content.bad, not thrown; content.boxes has a row per sample, -1s
// where the source has no box); `progress(n)` reports n more images
// finished, also from the calling thread. threads >= 1.
void convert_shards(const ConvertSettings& settings, const std::vector<ShardJob>& jobs, int threads,
                    const std::function<void(size_t, ShardContent&&)>& done,
                    const std::function<void(int64_t)>& progress);

// One image: decode, resize into dst (3 x S x S), and the box in stored pixels (clipped to the
// image; -1s when `box` has none). Throws BadImage, also when the box lies wholly outside the
// image (nothing left after clipping).
void convert_image(const std::string& path, int64_t img_size, const std::array<float, 4>& box,
                   uint8_t* dst, float* box_out);

}  // namespace scouter
