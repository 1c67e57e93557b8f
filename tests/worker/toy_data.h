// A generated dataset that a correct model learns within an epoch and a broken one cannot:
// class k of 4 puts a bright 10x10 square somewhere inside quadrant k of a noisy 28x28 image.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config.h"

namespace scouter::testing {

void write_toy_shards(const std::string& dir, int64_t n_train, int64_t n_val,
                      uint64_t seed = 1, int64_t shard_size = 256);

// A generated localisation dataset: class k of 4 is a 9x9 glyph (filled square, hollow square,
// plus, X) pasted at a random position on clutter (noise and bright distractor blobs) in a
// 28x28 image; /boxes holds each glyph's box, so the attention metrics can be checked.
void write_localisation_shards(const std::string& dir, int64_t n_train, int64_t n_val,
                               uint64_t seed = 1, int64_t shard_size = 512);
constexpr int64_t kGlyphSize = 9;

// A fast config for the toy data: smallcnn, 4 classes, stored size, one thread.
Config toy_config(const std::string& data_dir, const std::string& output_dir);

// Every tensor of a checkpoint's /model group, by name (to compare runs bitwise).
std::map<std::string, std::vector<float>> checkpoint_weights(const std::string& path);
// Every AdamW moment of a checkpoint's /optimizer group, as "<name>/exp_avg", "<name>/exp_avg_sq".
std::map<std::string, std::vector<float>> checkpoint_moments(const std::string& path);

}  // namespace scouter::testing
