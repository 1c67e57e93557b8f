// DataPlan: every rank's samples disjoint and within the eligible ones, and gradient accumulation:
// R ranks x K micro-batches serve exactly the batches of R x K ranks x 1, in the same steps.
#include "datasets/data_plan.h"

#include <gtest/gtest.h>

#include <set>

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

}  // namespace
}  // namespace scouter
