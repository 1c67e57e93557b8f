// Which samples each rank uses in an epoch, deterministic from (seed, epoch, world size), so every
// rank computes the same plan and a resumed run continues it exactly.
//
// Training: the eligible samples (split order) are cut into blocks of `block` consecutive
// samples that never span two shard files. Each epoch the blocks are shuffled and laid end to
// end; the first world * steps * batch samples, steps = floor(n / (world * batch)), are dealt to
// the ranks in contiguous parts, and each rank shuffles its part. So a rank reads a few shard
// ranges (what staging copies to its node), every sample is used at most once per epoch, and the
// remainder dropped (fewer than world * batch samples, the published drop_last) changes with the
// epoch because the block order does.
// Gradient accumulation (micro > 1): each rank trains `micro` micro-batches of `batch` per step.
// The plan is then that of world * micro ranks ("virtual ranks"), and rank r serves virtual ranks
// r * micro .. r * micro + micro - 1 interleaved per step: micro-batch k of step s is virtual rank
// r * micro + k's batch s. So R ranks x K micro-batches use exactly the samples, in the same
// batches, of R * K ranks x 1 (and micro = 1 is the plain plan).
// Evaluation: rank r takes the contiguous part [r n / world, (r + 1) n / world): every sample
// exactly once.
#pragma once

#include <cstdint>
#include <vector>

namespace scouter {

struct DataPlan {
  std::vector<int64_t> samples;      // eligible split-wide indices, ascending
  std::vector<int64_t> shard_first;  // first split-wide index of each shard file, ascending
  int64_t block = 1024;
  uint64_t seed = 0;
  int64_t world = 1;
  int64_t batch = 1;
  int64_t micro = 1;  // micro-batches per step on each rank (accum_steps)

  // Optimizer steps per epoch: floor(n / (world * micro * batch)).
  int64_t steps_per_epoch() const;
  // Rank `rank`'s samples of epoch `epoch` in training order (steps_per_epoch() * micro * batch
  // of them: each step's micro-batches one after the other).
  std::vector<int64_t> rank_samples(int64_t epoch, int64_t rank) const;
  // Shard files holding those samples, ascending.
  std::vector<int64_t> rank_shards(int64_t epoch, int64_t rank) const;
  // Index of the shard file holding split-wide sample `index`.
  int64_t shard_of(int64_t index) const;

 private:
  // Virtual rank v's samples (of world * micro, one micro-batch each) in training order.
  std::vector<int64_t> virtual_rank_samples(int64_t epoch, int64_t v) const;
};

// Rank `rank`'s part of an evaluation list.
std::vector<int64_t> eval_part(const std::vector<int64_t>& samples, int64_t world, int64_t rank);

}  // namespace scouter
