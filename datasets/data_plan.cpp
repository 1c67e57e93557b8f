#include "datasets/data_plan.h"

#include <algorithm>

#include "common/error.h"
#include "datasets/batch_loader.h"
#include "datasets/rng.h"

namespace scouter {
namespace {

// [begin, end) positions into DataPlan::samples.
struct Block {
  size_t begin, end;
};

std::vector<Block> make_blocks(const DataPlan& p) {
  std::vector<Block> blocks;
  size_t start = 0;
  for (size_t i = 1; i <= p.samples.size(); ++i) {
    bool end = i == p.samples.size() || static_cast<int64_t>(i - start) == p.block ||
               p.shard_of(p.samples[i]) != p.shard_of(p.samples[start]);
    if (end) {
      blocks.push_back({start, i});
      start = i;
    }
  }
  return blocks;
}

template <typename T>
void shuffle(std::vector<T>& v, uint64_t seed) {
  SplitMix64 rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(rng.below(i))]);
}

}  // namespace

int64_t DataPlan::steps_per_epoch() const {
  return static_cast<int64_t>(samples.size()) / (world * micro * batch);
}

int64_t DataPlan::shard_of(int64_t index) const {
  if (shard_first.empty()) return 0;
  auto it = std::upper_bound(shard_first.begin(), shard_first.end(), index);
  return static_cast<int64_t>(it - shard_first.begin()) - 1;
}

std::vector<int64_t> DataPlan::rank_samples(int64_t epoch, int64_t rank) const {
  SCOUTER_CHECK(world >= 1 && rank >= 0 && rank < world && batch >= 1 && block >= 1 && micro >= 1,
                "invalid data plan");
  if (micro == 1) return virtual_rank_samples(epoch, rank);
  std::vector<std::vector<int64_t>> parts;
  for (int64_t k = 0; k < micro; ++k) parts.push_back(virtual_rank_samples(epoch, rank * micro + k));
  std::vector<int64_t> out;
  out.reserve(parts[0].size() * static_cast<size_t>(micro));
  const auto b = static_cast<size_t>(batch);
  for (size_t s = 0; s < parts[0].size(); s += b)  // step s / batch: micro-batch k is part k's batch
    for (const auto& part : parts) out.insert(out.end(), part.begin() + s, part.begin() + s + b);
  return out;
}

std::vector<int64_t> DataPlan::virtual_rank_samples(int64_t epoch, int64_t rank) const {
  std::vector<Block> blocks = make_blocks(*this);
  shuffle(blocks, mix_seed(seed, static_cast<uint64_t>(epoch)));
  const int64_t part = steps_per_epoch() * batch;
  const int64_t first = rank * part, last = first + part;
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(part));
  int64_t pos = 0;  // position in the concatenated block order
  for (const Block& b : blocks) {
    auto len = static_cast<int64_t>(b.end - b.begin);
    if (pos + len > first && pos < last) {
      int64_t from = std::max(first - pos, int64_t{0}), to = std::min(last - pos, len);
      for (int64_t k = from; k < to; ++k) out.push_back(samples[b.begin + static_cast<size_t>(k)]);
    }
    pos += len;
    if (pos >= last) break;
  }
  shuffle(out, mix_seed(mix_seed(seed, static_cast<uint64_t>(epoch)), 0x5ca1ab1eULL + static_cast<uint64_t>(rank)));
  return out;
}

std::vector<int64_t> DataPlan::rank_shards(int64_t epoch, int64_t rank) const {
  std::vector<int64_t> shards;
  for (int64_t s : rank_samples(epoch, rank)) shards.push_back(shard_of(s));
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  return shards;
}

std::vector<int64_t> eval_part(const std::vector<int64_t>& samples, int64_t world, int64_t rank) {
  auto n = static_cast<int64_t>(samples.size());
  int64_t from = rank * n / world, to = (rank + 1) * n / world;
  return std::vector<int64_t>(samples.begin() + from, samples.begin() + to);
}

}  // namespace scouter
