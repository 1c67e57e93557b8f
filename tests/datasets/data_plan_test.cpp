// DataPlan: every rank's samples disjoint and within the eligible ones, and gradient accumulation:
// R ranks x K micro-batches serve exactly the batches of R x K ranks x 1, in the same steps.
// Property tests over many random layouts (ranks, micro-batches, shard sizes, blocks, eligible
// samples, seeds, epochs) check the header's contract: disjoint, complete but for the dropped
// remainder, deterministic per (seed, epoch), and changing with either.
#include "datasets/data_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "datasets/rng.h"

namespace scouter {
namespace {

// 203 eligible samples (every other index, so positions and indices differ) in shards of 40.
DataPlan plan(int64_t world, int64_t micro, int64_t batch) {
  DataPlan p;
  for (int64_t i = 0; i < 406; i += 2) p.samples.push_back(i);
  for (int64_t f = 0; f < 406; f += 40) p.shard_first.push_back(f);
  p.block = 16;
  p.seed = 9;
  p.world = world;
  p.micro = micro;
  p.batch = batch;
  return p;
}

TEST(DataPlan, RanksGetDisjointSamplesAndTheRemainderIsDropped) {
  const DataPlan p = plan(3, 1, 8);
  EXPECT_EQ(p.steps_per_epoch(), 203 / 24);
  std::set<int64_t> seen;
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t s : p.rank_samples(2, r)) {
      EXPECT_EQ(s % 2, 0);
      EXPECT_TRUE(seen.insert(s).second) << "sample " << s << " twice";
    }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), 3 * 8 * p.steps_per_epoch());
}

// Micro-batch k of step s on rank r is batch s of rank r * K + k in the plan of R * K ranks.
TEST(DataPlan, MicroBatchesOfRRanksAreTheBatchesOfRTimesKRanks) {
  for (int64_t R : {1, 2, 3})
    for (int64_t K : {2, 3, 4}) {
      const int64_t B = 5;
      const DataPlan acc = plan(R, K, B), wide = plan(R * K, 1, B);
      ASSERT_EQ(acc.steps_per_epoch(), wide.steps_per_epoch()) << R << "x" << K;
      ASSERT_GE(acc.steps_per_epoch(), 1);
      for (int64_t epoch : {0, 3})
        for (int64_t r = 0; r < R; ++r) {
          const std::vector<int64_t> mine = acc.rank_samples(epoch, r);
          ASSERT_EQ(static_cast<int64_t>(mine.size()), acc.steps_per_epoch() * K * B);
          for (int64_t k = 0; k < K; ++k) {
            const std::vector<int64_t> theirs = wide.rank_samples(epoch, r * K + k);
            for (int64_t s = 0; s < acc.steps_per_epoch(); ++s)
              for (int64_t i = 0; i < B; ++i)
                ASSERT_EQ(mine[static_cast<size_t>((s * K + k) * B + i)], theirs[static_cast<size_t>(s * B + i)])
                    << R << " ranks x " << K << ", epoch " << epoch << ", rank " << r << ", step " << s
                    << ", micro-batch " << k;
          }
        }
      // The shards a rank stages are those of its virtual ranks.
      std::set<int64_t> need, wide_need;
      for (int64_t f : acc.rank_shards(1, 0)) need.insert(f);
      for (int64_t k = 0; k < K; ++k)
        for (int64_t f : wide.rank_shards(1, k)) wide_need.insert(f);
      EXPECT_EQ(need, wide_need);
    }
}

// A random layout: 1..8 ranks, 1..3 micro-batches of 1..7, shards of 1..60 files' samples (so
// some are smaller than a block, some empty of eligible samples), about 4 in 5 indices eligible,
// blocks of 1..40, any seed. Small enough that some layouts have no full step at all.
DataPlan random_plan(SplitMix64& rng) {
  DataPlan p;
  p.world = 1 + static_cast<int64_t>(rng.below(8));
  p.micro = 1 + static_cast<int64_t>(rng.below(3));
  p.batch = 1 + static_cast<int64_t>(rng.below(7));
  p.block = 1 + static_cast<int64_t>(rng.below(40));
  p.seed = rng.next();
  const int64_t shards = 1 + static_cast<int64_t>(rng.below(12));
  int64_t index = 0;
  for (int64_t f = 0; f < shards; ++f) {
    p.shard_first.push_back(index);
    const int64_t size = 1 + static_cast<int64_t>(rng.below(60));
    for (int64_t i = 0; i < size; ++i, ++index)
      if (rng.below(5) != 0) p.samples.push_back(index);
  }
  return p;
}

std::string describe(const DataPlan& p) {
  std::ostringstream out;
  out << p.samples.size() << " samples in " << p.shard_first.size() << " shards, block " << p.block
      << ", " << p.world << " ranks x " << p.micro << " x batch " << p.batch << ", seed " << p.seed;
  return out.str();
}

// The blocks of the header's contract, written from it: runs of at most `block` consecutive
// eligible samples, a new one at each shard file.
std::vector<std::vector<int64_t>> contract_blocks(const DataPlan& p) {
  auto shard = [&](int64_t index) {
    return std::upper_bound(p.shard_first.begin(), p.shard_first.end(), index) -
           p.shard_first.begin() - 1;
  };
  std::vector<std::vector<int64_t>> blocks;
  for (size_t i = 0; i < p.samples.size(); ++i) {
    bool fresh = i == 0 || static_cast<int64_t>(blocks.back().size()) == p.block ||
                 shard(p.samples[i]) != shard(p.samples[i - 1]);
    if (fresh) blocks.emplace_back();
    blocks.back().push_back(p.samples[i]);
  }
  return blocks;
}

std::vector<std::vector<int64_t>> all_ranks(const DataPlan& p, int64_t epoch) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t r = 0; r < p.world; ++r) out.push_back(p.rank_samples(epoch, r));
  return out;
}

constexpr int kLayouts = 400;

// Each epoch: every rank has steps * micro * batch eligible samples, no sample twice across
// ranks, and all eligible samples but fewer than world * micro * batch are used. The dealt ones
// are a prefix of the shuffled blocks cut into contiguous rank parts: inside each block the
// owners run rank 0, 1, ... and the dropped ones come last.
TEST(DataPlan, EveryEpochIsDisjointAndCompleteButTheRemainder) {
  SplitMix64 rng(2026);
  int with_steps = 0, with_remainder = 0, split_blocks = 0;
  for (int layout = 0; layout < kLayouts; ++layout) {
    const DataPlan p = random_plan(rng);
    const int64_t n = static_cast<int64_t>(p.samples.size());
    const int64_t per_rank = p.steps_per_epoch() * p.micro * p.batch;
    const int64_t dropped = n - p.world * per_rank;
    ASSERT_EQ(p.steps_per_epoch(), n / (p.world * p.micro * p.batch)) << describe(p);
    ASSERT_GE(dropped, 0) << describe(p);
    ASSERT_LT(dropped, p.world * p.micro * p.batch) << describe(p);
    with_steps += per_rank > 0;
    with_remainder += dropped > 0;
    const std::set<int64_t> eligible(p.samples.begin(), p.samples.end());
    for (int64_t epoch : {0, 1, 5}) {
      std::map<int64_t, int64_t> owner;  // sample -> rank
      const auto ranks = all_ranks(p, epoch);
      for (int64_t r = 0; r < p.world; ++r) {
        ASSERT_EQ(static_cast<int64_t>(ranks[r].size()), per_rank) << describe(p) << ", rank " << r;
        for (int64_t s : ranks[r]) {
          ASSERT_TRUE(eligible.count(s)) << describe(p) << ": rank " << r << " got " << s;
          ASSERT_TRUE(owner.emplace(s, r).second)
              << describe(p) << ", epoch " << epoch << ": sample " << s << " on ranks "
              << owner[s] << " and " << r;
        }
      }
      ASSERT_EQ(static_cast<int64_t>(owner.size()), n - dropped) << describe(p);
      for (const auto& block : contract_blocks(p)) {
        int64_t last = 0;
        for (int64_t s : block) {
          auto it = owner.find(s);
          const int64_t o = it == owner.end() ? p.world : it->second;  // dropped: after all ranks
          ASSERT_GE(o, last) << describe(p) << ", epoch " << epoch << ": block from "
                             << block.front() << " is not cut in rank order at " << s;
          split_blocks += o != last && s != block.front();
          last = o;
        }
      }
    }
  }
  // The layouts cover what they claim to (no step at all, some dropped, blocks shared by ranks).
  EXPECT_GT(with_steps, kLayouts / 2);
  EXPECT_LT(with_steps, kLayouts);
  EXPECT_GT(with_remainder, kLayouts / 2);
  EXPECT_GT(split_blocks, kLayouts);
}

// The same (seed, epoch) gives the same plan, from any copy of it (every rank computes its own);
// another epoch or another seed gives another one. Compared where a rank has at least 10
// samples, so that two independent shuffles agreeing by chance (< 1 / 10!) cannot hide a plan
// that ignores the epoch or the seed.
TEST(DataPlan, DeterministicPerSeedAndEpochAndDifferentAcrossThem) {
  SplitMix64 rng(7);
  int compared = 0;
  for (int layout = 0; layout < kLayouts; ++layout) {
    const DataPlan p = random_plan(rng);
    DataPlan again = p;  // what another rank or a resumed run builds from the same inputs
    DataPlan reseeded = p;
    reseeded.seed = p.seed + 1;
    for (int64_t epoch : {0, 3}) {
      const auto plan = all_ranks(p, epoch);
      ASSERT_EQ(all_ranks(again, epoch), plan) << describe(p);
      ASSERT_EQ(all_ranks(p, epoch), plan) << describe(p);
      if (p.steps_per_epoch() * p.micro * p.batch < 10) continue;
      ++compared;
      EXPECT_NE(all_ranks(p, epoch + 1), plan) << describe(p) << ", epoch " << epoch;
      EXPECT_NE(all_ranks(reseeded, epoch), plan) << describe(p) << ", epoch " << epoch;
    }
  }
  EXPECT_GT(compared, kLayouts / 4);
}

// The dropped remainder changes with the epoch (the block order does): over 8 epochs of a plan
// that deals a step and drops some, with at least 8 blocks, the dropped samples are not always the
// same ones (a fixed remainder would need the same last block in all 8 shuffles: < 8^-7).
TEST(DataPlan, TheDroppedRemainderChangesWithTheEpoch) {
  SplitMix64 rng(11);
  int checked = 0;
  for (int layout = 0; layout < kLayouts; ++layout) {
    const DataPlan p = random_plan(rng);
    const int64_t n = static_cast<int64_t>(p.samples.size());
    if (p.steps_per_epoch() == 0 || n % (p.world * p.micro * p.batch) == 0 ||
        contract_blocks(p).size() < 8)
      continue;  // nothing dealt (all dropped, always), nothing dropped, or too few blocks
    ++checked;
    std::set<std::set<int64_t>> dropped_sets;
    for (int64_t epoch = 0; epoch < 8; ++epoch) {
      std::set<int64_t> dropped(p.samples.begin(), p.samples.end());
      for (const auto& rank : all_ranks(p, epoch))
        for (int64_t s : rank) dropped.erase(s);
      dropped_sets.insert(dropped);
    }
    EXPECT_GT(dropped_sets.size(), 1u) << describe(p);
  }
  EXPECT_GT(checked, kLayouts / 4);
}

// A rank's shard files are those holding its samples (what staging copies to its node).
TEST(DataPlan, RankShardsAreTheFilesOfItsSamples) {
  SplitMix64 rng(5);
  for (int layout = 0; layout < kLayouts / 4; ++layout) {
    const DataPlan p = random_plan(rng);
    for (int64_t r = 0; r < p.world; ++r) {
      std::set<int64_t> files;
      for (int64_t s : p.rank_samples(2, r))
        for (size_t f = 0; f < p.shard_first.size(); ++f)
          if (s >= p.shard_first[f] && (f + 1 == p.shard_first.size() || s < p.shard_first[f + 1]))
            files.insert(static_cast<int64_t>(f));
      const auto shards = p.rank_shards(2, r);
      EXPECT_EQ(std::set<int64_t>(shards.begin(), shards.end()), files) << describe(p);
      EXPECT_TRUE(std::is_sorted(shards.begin(), shards.end()));
      EXPECT_EQ(files.size(), shards.size()) << describe(p) << ": a shard listed twice";
    }
  }
}

// Evaluation: every sample exactly once, in order, in contiguous parts whose sizes differ by at
// most one, for any number of ranks (more ranks than samples included).
TEST(DataPlan, EvalPartsCoverEverySampleOnce) {
  for (int64_t n : {0, 1, 7, 64, 101})
    for (int64_t world = 1; world <= 9; ++world) {
      std::vector<int64_t> samples;
      for (int64_t i = 0; i < n; ++i) samples.push_back(3 * i + 1);
      std::vector<int64_t> joined;
      size_t smallest = samples.size(), largest = 0;
      for (int64_t r = 0; r < world; ++r) {
        auto part = eval_part(samples, world, r);
        smallest = std::min(smallest, part.size());
        largest = std::max(largest, part.size());
        joined.insert(joined.end(), part.begin(), part.end());
      }
      EXPECT_EQ(joined, samples) << n << " samples, " << world << " ranks";
      EXPECT_LE(largest - smallest, 1u) << n << " samples, " << world << " ranks";
    }
}

}  // namespace
}  // namespace scouter
