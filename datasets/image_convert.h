// Turns the source images of shards into shard content: decode (datasets/image_decode.h),
// resize to img_size x img_size with PIL's bilinear filter (resize_bilinear_u8), rescale the
// box. A pool of threads does the images; two shards are in flight, so the caller writes one
// while the pool decodes the next. With one thread everything runs in the calling thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "datasets/image_decode.h"
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
// image (nothing left after clipping). The same as store_decoded_image(decoded, 3, S, S, ...).
void convert_image(const std::string& path, int64_t img_size, const std::array<float, 4>& box,
                   uint8_t* dst, float* box_out);

// What prep stores for a decoded image: resized into dst (channels x height x width, PIL's
// bilinear) and its box (source pixels x, y, w, h; w < 0: none) in stored pixels, each axis
// scaled by its own factor and clipped to the image (-1s without a box). 3 channels: the RGB as
// decoded; 1 channel (the MNIST-style datasets): PIL's convert('L') of the RGB (rgb_to_luma)
// first, then the resize, as PIL's Image.open(f).convert('L').resize(...) does.
void store_decoded_image(const RgbImage& img, int channels, int height, int width,
                         const std::array<float, 4>& box, uint8_t* dst, float* box_out);

// PIL's convert('L'): L = (299 R + 587 G + 114 B) / 1000 in PIL's 16-bit fixed point
// ((R*19595 + G*38470 + B*7471 + 32768) >> 16). out: height x width.
void rgb_to_luma(const RgbImage& img, uint8_t* out);

}  // namespace scouter
