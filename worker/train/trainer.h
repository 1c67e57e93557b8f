// Trains one run, in one process or data-parallel over MPI ranks (the same code: a world of one
// without MPI): data from shards by the data plan, the model, AdamW with a step schedule,
// gradients averaged across ranks, evaluation every epoch with exact cross-rank sums,
// metrics.jsonl, a checkpoint per epoch (rank 0 writes, all ranks pass a barrier, then the
// completion marker; last keep_checkpoints kept) and exact resume; SIGTERM/SIGUSR1 stop every
// rank after the current step with a checkpoint (TrainResult::stopped_by). At the end
// summary.json (the run's completion marker), after the caller's finish hook (the launcher's:
// the attention pictures of vis = true).
//
// Run folder (output_dir):
//   .lock                held (flock; or the lock file .lock.held, the `lock` key) by rank 0 of
//                        the run writing it (common/run_lock.h); a second writer is refused
//                        before it changes anything
//   config.toml          resolved config
//   dataset.json         what the run keeps of its dataset (datasets/dataset_info.h)
//   provenance.json      one attempt appended per start: build, libraries, hosts, data
//                        fingerprint, weights' digests (worker/train/provenance.h)
//   metrics.jsonl        one record per epoch
//   checkpoints/         epoch-NNNN.h5 (worker/run/checkpoint.h)
//   summary.json         written last: final and best accuracy, area, speed, time
//   vis/                 pictures (worker/explain/vis.h)
#pragma once

#include <functional>
#include <string>

#include <torch/torch.h>

#include "common/config.h"
#include "common/mpi_env.h"
#include "worker/model/scouter_model.h"

namespace scouter {

// Where an epoch's wall time went, on rank 0 (steady clock, seconds; no device synchronisation
// is added, so on a GPU the steps count as the img/s counts them): the whole epoch (from staging
// its shards to its checkpoint's completion), its training steps, of those the time blocked
// waiting for the loader's next batch, validation (with the ranks' sums), the checkpoint. The
// rest of the epoch is staging, the epoch's sums across ranks and the metrics record.
struct EpochTimes {
  double epoch_s = 0, steps_s = 0, data_wait_s = 0, val_s = 0, checkpoint_s = 0;

  EpochTimes& operator+=(const EpochTimes& o);
  // "time 53.0 s: steps 51.2 s (waiting for data 0.3 s), val 1.7 s, checkpoint 0.1 s"
  std::string describe() const;
};

struct TrainResult {
  double final_val_acc = 0, best_val_acc = 0, final_val_area = 0;
  int64_t best_epoch = -1, epochs_run = 0;
  double train_images_per_s = 0, total_seconds = 0;
  EpochTimes epoch_times;  // summed over the epochs this process ran (not a resumed run's earlier ones)
  bool already_complete = false;
  int stopped_by = 0;  // the signal that stopped the run early (0: ran to the end)
  bool diverged = false;  // stopped at a non-finite loss or gradient (kExitDiverged)
};

// Called on rank 0 once the run is accepted: the run folder is locked, nothing refused it, and
// nothing in it has been written yet. The launcher records command.txt, hosts.txt and
// version.txt here.
using StartHook = std::function<void()>;

// Called on rank 0 with the trained model after the last epoch, before summary.json marks the
// run complete. The launcher passes the attention pictures of vis = true here (explain/ sits
// above train/ and is not linked into it).
using FinishHook = std::function<void(ScouterModel&)>;

TrainResult train_run(const Config& cfg, const Origins& origins = {}, const FinishHook& on_finish = {},
                      const StartHook& on_start = {});

}  // namespace scouter
