// What the ranks of a training run do together around the steps: checkpoints that hold every
// rank's random-generator state (rank 0 writes, all pass a barrier, then the completion marker),
// evaluation whose sums are added across ranks, and node-local staging of the shards each node
// reads. A world of one does the same without communication.
#pragma once

#include <torch/torch.h>

#include <string>

#include "common/config.h"
#include "worker/comm/distributed.h"
#include "worker/model/scouter_model.h"
#include "worker/run/checkpoint.h"
#include "worker/run/data.h"
#include "worker/train/evaluate.h"

namespace scouter {

class DeviceInput;

// This process's CPU generator state, and setting it back (resume).
torch::Tensor cpu_rng_state();
void set_cpu_rng_state(const torch::Tensor& state);

// Writes checkpoint `path` with every rank's generator state (and, mid-epoch, every rank's
// training sums so far: `my_sums`, kSumsPerRank values, or empty at an epoch boundary), marks it
// complete once all ranks got past the save, and prunes older checkpoints (keep_checkpoints).
void save_synced(Distributed& dist, const std::string& path, torch::nn::Module& model,
                 torch::optim::Optimizer& opt, const TrainState& state, const Config& cfg,
                 const std::vector<double>& my_sums = {});

// Adds every rank's evaluation sums (and per-class sums, when evaluated per class) in place: the
// sums, not the means, so the result is one process's.
void sum_across_ranks(Distributed& dist, EvalResult& ev, bool use_slot);

// Every rank evaluates its part of the validation set; the sums (not means) are added across ranks.
EvalResult evaluate_all(Distributed& dist, ScouterModel& model, BatchLoader& loader,
                        const Config& cfg, torch::Device device, const DeviceInput* input);

// Copies the shard files this node's ranks read in `epoch` (and, with with_val, their validation
// shards) to stage_dir, then points the shard sets at the local copies. No-op without stage_dir.
void stage_for_epoch(Distributed& dist, RunData& data, const Config& cfg, int64_t epoch, bool with_val);

}  // namespace scouter
