// Checkpoints: one HDF5 file per save, readable by h5py, built in memory and written in one piece
// (temporary name, fsync, rename, fsync of the folder), so a file that exists is complete.
// Layout (format_version 3, in HDF5 1.10's file format whose metadata carries checksums,
// common/h5.h "File format"; version 2, in the earliest format, and version 1, without the
// checksums, are still read, with a warning):
//   root attributes
//     format           "scouter-checkpoint"
//     format_version   kCheckpointFormatVersion
//     model_signature  architecture keys and values (common/config.h model_signature); a
//                      checkpoint loads only into a model of the same signature
//     config_toml      the resolved config of the run (every key)
//     created_by       "scouter <version> (<git commit>)"
//     epoch            epochs completed when saved
//     step_in_epoch    batches of the next epoch already done (0 at an epoch boundary)
//     global_step      optimizer steps taken
//     best_val_acc, best_epoch   best validation accuracy so far and its epoch (-1: none)
//     header_sha256    SHA-256 of the header text (checkpoint.cpp header_text: signature,
//                      config, epoch, steps, best, world_size)
//   every dataset      attribute sha256: SHA-256 of its bytes as stored (checked on every read)
//   /model/<name>      every parameter and buffer under its state_dict name
//                      (`backbone.layer1.0.conv1.weight`, `slot.gru.weight_ih_l0`, ...),
//                      float32 or int64 (BatchNorm's num_batches_tracked)
//   /optimizer         attributes: type "AdamW", lr (current), steps_sha256 (of "lr=..." and
//                      each parameter's "name=step" line)
//   /optimizer/<name>/exp_avg, exp_avg_sq   AdamW moments of each trained parameter;
//                      attribute step (int64)
//   /rng/torch_cpu     uint8[]: LibTorch's default CPU generator state (rank 0's)
//   /rng/rank_<r>      uint8[]: rank r's generator state, for every rank of a distributed run
//   /train_sums        float64[world_size, 6], mid-epoch checkpoints only: each rank's sums of
//                      the epoch so far (loss, nll, attention times batch sizes, correct,
//                      count, steps with non-finite gradients)
//   attribute world_size: ranks of the run that wrote it
// Why SHA-256 per dataset and not HDF5's Fletcher32: a checkpoint is always read whole, 0-d
// tensors (num_batches_tracked) cannot be chunked, and one digest per tensor lets a failed check
// name the tensor. Shards, read in row ranges, use Fletcher32 per chunk instead (docs/formats.md).
// A checkpoint counts as complete only once `<file>.done` exists: rank 0 writes that marker after
// every rank has passed the barrier that follows the save (two-phase, so a crash between the
// two leaves an incomplete checkpoint that resume ignores). The marker records the file's
// SHA-256 and size ("complete\nsha256 <hex>\nbytes <n>\n"); every function here that opens a
// checkpoint first checks the file against that record, so HDF5 never parses a damaged file
// (a marker of an older scouter holds only "complete": such files are read with a warning).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/config.h"

namespace scouter {

constexpr int64_t kCheckpointFormatVersion = 3;

struct TrainState {
  int64_t epoch = 0;          // epochs completed
  int64_t step_in_epoch = 0;  // batches of epoch `epoch` done (mid-epoch saves)
  int64_t global_step = 0;
  double best_val_acc = -1;
  int64_t best_epoch = -1;
};

// Writes path atomically. optimizer may be null (weights only). rank_rng: every rank's
// generator state (index = rank), or empty for a single process. rank_sums: for a checkpoint in
// the middle of an epoch, every rank's training sums of that epoch so far (kSumsPerRank each,
// rank after rank), so the resumed epoch's metrics cover the whole epoch; empty otherwise.
constexpr int64_t kSumsPerRank = 6;
void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, const TrainState& state,
                     const Config& cfg, const std::vector<torch::Tensor>& rank_rng = {},
                     const std::vector<double>& rank_sums = {});
// Marks a saved checkpoint complete, recording its SHA-256 and size (see above).
void mark_complete(const std::string& path);
// Rank `rank`'s generator state from a checkpoint, or an undefined tensor if it has none.
torch::Tensor read_rank_rng(const std::string& path, int rank);
// Rank `rank`'s training sums of the interrupted epoch (kSumsPerRank values), or empty.
std::vector<double> read_rank_sums(const std::string& path, int rank);

struct CheckpointInfo {
  std::string path;
  int64_t world_size = 1;
  std::string config_toml;
  std::string model_signature;
  TrainState state;
  bool checksummed = false;  // format_version >= 2
};

// Reads the header (attributes) only, checked against header_sha256; UserError if the file is
// not a readable checkpoint.
CheckpointInfo read_checkpoint_info(const std::string& path);

// UserError naming the differing keys when the checkpoint's model signature is not cfg's.
void check_model_signature(const CheckpointInfo& info, const Config& cfg);

// Loads weights (and optimizer state and RNG when given) into a model built from `cfg`.
// Refuses, naming the differing keys, a checkpoint whose model signature differs from cfg's,
// and lists missing, unexpected or wrongly shaped tensors by name.
CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model,
                               torch::optim::Optimizer* optimizer, const Config& cfg,
                               bool restore_rng = true);

// Copies `backbone.*` tensors (without the classifier `backbone.fc.*`) of a checkpoint into
// model (use_pre: a SCOUTER run starting from its FC baseline). `path` is a checkpoint file or a
// run folder (its newest checkpoint). Returns the number of tensors copied.
int64_t load_backbone_weights(const std::string& path, torch::nn::Module& model);

// <output_dir>/checkpoints/epoch-0003.h5
std::string checkpoint_path(const std::string& output_dir, int64_t epoch, int64_t step_in_epoch = 0);
// The whole-file SHA-256 that a checkpoint's .done marker records; the file's own SHA-256 where
// the marker (of an older scouter) records none.
std::string checkpoint_digest(const std::string& path);
// Complete checkpoints of a run (with their .done marker), oldest first.
std::vector<std::string> list_checkpoints(const std::string& output_dir);
// Newest complete checkpoint, or "" if none.
std::string latest_checkpoint(const std::string& output_dir);
// Reads every dataset of a checkpoint and checks it against its SHA-256; "" when everything
// verifies, otherwise why not (naming the tensor).
std::string verify_checkpoint(const std::string& path);
// Newest complete checkpoint that verifies, with a warning for each newer one that does not;
// "" if none.
std::string latest_verified_checkpoint(const std::string& output_dir);

// Deletes all but the newest `keep` complete checkpoints, never the newest one that verifies.
void prune_checkpoints(const std::string& output_dir, int64_t keep);

}  // namespace scouter
