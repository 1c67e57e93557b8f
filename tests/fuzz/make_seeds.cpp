// Writes the seed corpora of the checkpoint and shard harnesses, and the config file of every key,
// with the project's own writers (the other seeds: tests/fuzz/make_corpus.py). Built on demand in the fuzz build:
//   cmake --build build-asan --target make_fuzz_seeds && build-asan/tests/fuzz/make_fuzz_seeds
// run from the repository root. Small on purpose: a 2x2 linear layer, 2 samples of 1x2x2.
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "datasets/shard_writer.h"
#include "worker/run/checkpoint.h"

namespace fs = std::filesystem;
using namespace scouter;

int main() {
  const fs::path out = "tests/fuzz/corpus";
  fs::create_directories(out / "checkpoint");
  fs::create_directories(out / "shard");
  fs::create_directories(out / "config");
  std::ofstream(out / "config/defaults.toml") << to_toml(Config{});

  torch::manual_seed(0);
  torch::nn::Linear model(2, 2);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-3));
  Config cfg;
  TrainState state;
  state.epoch = 1;
  state.global_step = 4;
  // The checkpoint harness's input: the .done marker, a NUL, the checkpoint (checkpoint_fuzz.cpp).
  const fs::path tmp_run = out / "checkpoint/tmp";
  // With its marker, a damaged checkpoint fails the marker's whole-file SHA-256 before HDF5 sees
  // it; with an empty marker (no digest), HDF5 parses it, checked by its metadata checksums only:
  // both paths get a seed.
  const auto seed = [&](const std::string& name, torch::optim::Optimizer* optimizer,
                        const std::vector<torch::Tensor>& rng, const std::vector<double>& sums,
                        bool with_marker) {
    const std::string path = checkpoint_path(tmp_run.string(), 1);
    fs::create_directories(fs::path(path).parent_path());
    save_checkpoint(path, *model, optimizer, state, cfg, rng, sums);
    mark_complete(path);
    std::ofstream seed_file(out / "checkpoint" / name, std::ios::binary);
    if (with_marker) seed_file << std::ifstream(path + ".done", std::ios::binary).rdbuf();
    seed_file << '\0' << std::ifstream(path, std::ios::binary).rdbuf();
    fs::remove_all(tmp_run);
  };
  seed("weights", nullptr, {}, {}, true);
  seed("with_optimizer", &opt, {torch::zeros({8}, torch::kUInt8)}, {1, 2, 3, 4, 5, 6}, true);
  seed("without_digest", &opt, {torch::zeros({8}, torch::kUInt8)}, {1, 2, 3, 4, 5, 6}, false);

  ShardMeta meta;
  meta.dataset = "MNIST";
  meta.split = "train";
  meta.channels = 1;
  meta.height = 2;
  meta.width = 2;
  meta.num_classes = 2;
  meta.class_names = {"a", "b"};
  meta.mean = {0.5};
  meta.std = {0.25};
  meta.source_files = {"train-images-idx3-ubyte"};
  meta.source_sha256 = {"00"};
  const uint8_t images[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  const int64_t labels[2] = {0, 1};
  const float boxes[8] = {0, 0, 1, 1, 0, 0, 2, 2};
  const fs::path tmp = out / "shard/tmp";
  write_split(tmp.string(), meta, 2, images, labels, nullptr, 2);
  fs::rename(tmp / "train-00000-of-00001.h5", out / "shard/plain.h5");
  meta.has_boxes = true;
  write_split(tmp.string(), meta, 2, images, labels, boxes, 2);
  fs::rename(tmp / "train-00000-of-00001.h5", out / "shard/boxes.h5");
  fs::remove_all(tmp);
  return 0;
}
