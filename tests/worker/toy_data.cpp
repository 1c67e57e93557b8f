#include "worker/toy_data.h"

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

}  // namespace

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

}  // namespace scouter::testing
