#include "worker/toy_data.h"

#include <cstdlib>
#include <random>
#include <vector>

#include "common/h5.h"
#include "datasets/shard_writer.h"

namespace scouter::testing {
namespace {

void make_split(int64_t n, uint64_t seed, std::vector<uint8_t>& images, std::vector<int64_t>& labels) {
  constexpr int kSize = 28, kSquare = 10, kHalf = kSize / 2;
  std::mt19937_64 rng(seed);
  images.assign(static_cast<size_t>(n * kSize * kSize), 0);
  labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t label = i % 4;
    labels[static_cast<size_t>(i)] = label;
    uint8_t* img = images.data() + i * kSize * kSize;
    for (int p = 0; p < kSize * kSize; ++p) img[p] = static_cast<uint8_t>(rng() % 30);
    int qy = static_cast<int>(label / 2) * kHalf, qx = static_cast<int>(label % 2) * kHalf;
    int y0 = qy + static_cast<int>(rng() % (kHalf - kSquare + 1));
    int x0 = qx + static_cast<int>(rng() % (kHalf - kSquare + 1));
    for (int y = y0; y < y0 + kSquare; ++y)
      for (int x = x0; x < x0 + kSquare; ++x) img[y * kSize + x] = static_cast<uint8_t>(200 + rng() % 56);
  }
}

bool glyph_pixel(int64_t label, int y, int x) {
  constexpr int n = static_cast<int>(kGlyphSize), c = n / 2;
  switch (label) {
    case 0: return true;                                            // filled square
    case 1: return y < 2 || y >= n - 2 || x < 2 || x >= n - 2;      // hollow square
    case 2: return std::abs(y - c) <= 1 || std::abs(x - c) <= 1;    // plus
    default: return std::abs(y - x) <= 1 || std::abs(y + x - (n - 1)) <= 1;  // X
  }
}

void make_localisation_split(int64_t n, uint64_t seed, std::vector<uint8_t>& images,
                             std::vector<int64_t>& labels, std::vector<float>& boxes) {
  constexpr int kSize = 28, kGlyph = static_cast<int>(kGlyphSize);
  std::mt19937_64 rng(seed);
  images.assign(static_cast<size_t>(n * kSize * kSize), 0);
  labels.resize(static_cast<size_t>(n));
  boxes.resize(static_cast<size_t>(n * 4));
  for (int64_t i = 0; i < n; ++i) {
    int64_t label = i % 4;
    labels[static_cast<size_t>(i)] = label;
    uint8_t* img = images.data() + i * kSize * kSize;
    for (int p = 0; p < kSize * kSize; ++p) img[p] = static_cast<uint8_t>(rng() % 40);
    int y0 = static_cast<int>(rng() % (kSize - kGlyph + 1));
    int x0 = static_cast<int>(rng() % (kSize - kGlyph + 1));
    // Clutter: three 2x2..4x4 blobs as bright as the glyph, outside the glyph's box.
    for (int k = 0; k < 3; ++k) {
      int s = 2 + static_cast<int>(rng() % 3);
      int by = static_cast<int>(rng() % (kSize - s + 1)), bx = static_cast<int>(rng() % (kSize - s + 1));
      if (by + s > y0 && by < y0 + kGlyph && bx + s > x0 && bx < x0 + kGlyph) continue;
      for (int y = by; y < by + s; ++y)
        for (int x = bx; x < bx + s; ++x) img[y * kSize + x] = static_cast<uint8_t>(180 + rng() % 76);
    }
    for (int y = 0; y < kGlyph; ++y)
      for (int x = 0; x < kGlyph; ++x)
        if (glyph_pixel(label, y, x))
          img[(y0 + y) * kSize + x0 + x] = static_cast<uint8_t>(200 + rng() % 56);
    float* b = &boxes[static_cast<size_t>(i * 4)];
    b[0] = static_cast<float>(x0), b[1] = static_cast<float>(y0);
    b[2] = b[3] = static_cast<float>(kGlyph);
  }
}

}  // namespace

void write_localisation_shards(const std::string& dir, int64_t n_train, int64_t n_val,
                               uint64_t seed, int64_t shard_size) {
  ShardMeta meta;
  meta.dataset = "MNIST";
  meta.channels = 1;
  meta.height = meta.width = 28;
  meta.num_classes = 4;
  meta.class_names = {"square", "frame", "plus", "cross"};
  meta.mean = {0.1};
  meta.std = {0.2};
  meta.source_files = {"generated"};
  meta.source_sha256 = {"-"};
  std::vector<uint8_t> images;
  std::vector<int64_t> labels;
  std::vector<float> boxes;
  make_localisation_split(n_train, seed, images, labels, boxes);
  meta.split = "train";
  write_split(dir, meta, n_train, images.data(), labels.data(), boxes.data(), shard_size);
  make_localisation_split(n_val, seed + 1000, images, labels, boxes);
  meta.split = "val";
  write_split(dir, meta, n_val, images.data(), labels.data(), boxes.data(), shard_size);
}

void write_toy_shards(const std::string& dir, int64_t n_train, int64_t n_val, uint64_t seed,
                      int64_t shard_size) {
  ShardMeta meta;
  meta.dataset = "MNIST";
  meta.channels = 1;
  meta.height = meta.width = 28;
  meta.num_classes = 4;
  meta.class_names = {"top-left", "top-right", "bottom-left", "bottom-right"};
  meta.mean = {0.2};
  meta.std = {0.3};
  meta.source_files = {"generated"};
  meta.source_sha256 = {"-"};
  std::vector<uint8_t> images;
  std::vector<int64_t> labels;
  make_split(n_train, seed, images, labels);
  meta.split = "train";
  write_split(dir, meta, n_train, images.data(), labels.data(), nullptr, shard_size);
  make_split(n_val, seed + 1000, images, labels);
  meta.split = "val";
  write_split(dir, meta, n_val, images.data(), labels.data(), nullptr, shard_size);
}

Config toy_config(const std::string& data_dir, const std::string& output_dir) {
  Config c;
  c.dataset = "MNIST";
  c.dataset_dir = data_dir;
  c.output_dir = output_dir;
  c.model = "smallcnn";
  c.num_classes = 4;
  c.img_size = 0;
  c.batch_size = 32;
  c.epochs = 3;
  c.lr = 1e-3;
  c.threads = 1;
  c.prefetch = 2;
  c.slots_per_class = 1;
  c.to_k_layer = 1;
  c.power = 1;
  c.lambda_value = 1;
  c.seed = 7;
  return c;
}

std::map<std::string, std::vector<float>> checkpoint_weights(const std::string& path) {
  std::map<std::string, std::vector<float>> w;
  h5::Handle f = h5::open_file(path);
  h5::Handle g = h5::open_group(f.get(), "model");
  for (const auto& name : h5::list_children(g.get())) w[name] = h5::read<float>(g.get(), name);
  return w;
}

std::map<std::string, std::vector<float>> checkpoint_moments(const std::string& path) {
  std::map<std::string, std::vector<float>> m;
  h5::Handle f = h5::open_file(path);
  h5::Handle g = h5::open_group(f.get(), "optimizer");
  for (const auto& name : h5::list_children(g.get())) {
    h5::Handle p = h5::open_group(g.get(), name);
    for (const char* moment : {"exp_avg", "exp_avg_sq"}) m[name + "/" + moment] = h5::read<float>(p.get(), moment);
  }
  return m;
}

}  // namespace scouter::testing
