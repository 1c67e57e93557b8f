#include "worker/train/trainer.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <optional>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/metrics_log.h"
#include "common/progress.h"
#include "common/run_lock.h"
#include "common/step_hold.h"
#include "common/stop_signal.h"
#include "common/version.h"
#include "datasets/dataset_info.h"
#include "worker/comm/distributed.h"
#include "worker/model/backbone_spec.h"
#include "worker/model/scouter_model.h"
#include "worker/run/checkpoint.h"
#include "worker/run/data.h"
#include "worker/run/device.h"
#include "worker/train/evaluate.h"
#include "worker/train/pretrained.h"
#include "worker/train/provenance.h"
#include "worker/train/run_collectives.h"
#include "worker/train/run_summary.h"
#include "worker/train/state_sync.h"
#include "worker/train/step_runner.h"

namespace fs = std::filesystem;

namespace scouter {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// StepLR(step_size = lr_drop, gamma = 0.1) as a function of the epoch: resumable by construction.
double lr_at_epoch(const Config& cfg, int64_t epoch) {
  return cfg.lr * std::pow(0.1, static_cast<double>(epoch / cfg.lr_drop));
}

// Everything one training run holds between its steps.
struct Training {
  const Config& cfg;
  Distributed dist;
  bool rank0;
  int64_t threads;
  torch::Device device;
  PrecisionChoice precision;  // what cfg.precision means on `device` (worker/run/device.h)
  Clock::time_point t_start = Clock::now();
  std::string started = now_iso();
  std::string resume_from;
  int64_t resume_epoch = 0;       // epochs the resumed checkpoint holds (0: fresh start)
  std::string fc_baseline;        // use_pre without pre_checkpoint: the FC run found beside it
  std::unique_ptr<FolderLock> lock;  // rank 0: held from before anything in output_dir is written
  std::string created_root;  // rank 0: the outermost folder of output_dir this run created ("": none)
  RunData data;
  ScouterModel model{nullptr};
  std::unique_ptr<StepRunner> steps;
  TrainState state;
  TrainResult result;
  double train_seconds = 0, train_samples = 0;
  std::vector<double> resumed_sums;  // this rank's sums of an epoch a checkpoint interrupted
  double epoch_images = 0;           // images trained on by this process in the current epoch
  Clock::time_point epoch_start;     // the current epoch's, and where its time went so far
  EpochTimes epoch_times;
  StepHolds holds;                   // the tests' SCOUTER_FAULT_HOLD (common/step_hold.h)

  explicit Training(const Config& c)
      : cfg(c), dist(c), rank0(dist.rank0()), threads(configure_threads(c.threads)),
        device(pick_device(c, dist.topology())), precision(pick_precision(c.precision, device)), holds(StepHolds::from_env(dist.world())) {}
};

// Every rank holds rank 0's BatchNorm statistics (state_sync.h says why), before evaluating and
// saving.
void share_buffers(Training& t) {
  if (t.dist.broadcaster()) broadcast_buffers(*t.model, *t.dist.broadcaster(), 0);
}

// Checkpoints through save_synced, with the optimizer state brought out of the step runner; a
// mid-epoch checkpoint also holds every rank's sums of the epoch so far.
void save(Training& t, const std::string& path) {
  const bool mid_epoch = t.state.step_in_epoch != 0;
  if (mid_epoch) share_buffers(t);  // at an epoch's end the evaluation before it did
  t.steps->sync_state_out();
  save_synced(t.dist, path, *t.model, t.steps->optimizer(), t.state, t.cfg,
              mid_epoch ? t.steps->sums().values() : std::vector<double>{});
}

// "4 ranks", "1 rank x 4 micro-batches": what the data plan of a run depends on.
std::string run_shape(int64_t world, int64_t micro) {
  std::string s = str_format("{} rank{}", world, world == 1 ? "" : "s");
  return micro == 1 ? s : s + str_format(" x {} micro-batches", micro);
}

// A checkpoint resumes mid-epoch only into the same ranks and accum_steps (its per-rank sums and
// the data plan depend on both); at an epoch boundary any, and the data order goes on unchanged
// while ranks x accum_steps is the same (datasets/data_plan.h).
void check_resume_shape(const CheckpointInfo& info, const Config& cfg, int64_t world) {
  Config saved;
  apply_toml_text(saved, info.config_toml, info.path + " (stored config)");
  const int64_t micro = saved.accum_steps;  // 1 in checkpoints from before the key
  if (info.world_size == world && micro == cfg.accum_steps) return;
  const std::string was = run_shape(info.world_size, micro), is = run_shape(world, cfg.accum_steps);
  if (info.state.step_in_epoch != 0)
    throw UserError(str_format("checkpoint '{}' stopped mid-epoch in a run of {}; this run has {}",
                               info.path, was, is),
                    str_format("resume mid-epoch with {} (the data plan and the saved per-rank "
                               "sums depend on the ranks and accum_steps); other counts work from "
                               "an epoch boundary", was));
  if (info.world_size * micro == world * cfg.accum_steps)
    log::info("resuming a run of {} with {}: the same {} micro-batches per step, so the same data "
              "order", was, is, world * cfg.accum_steps);
  else
    log::warn("resuming a run of {} with {}: from here the data order differs from an "
              "uninterrupted run of {}", was, is, was);
}

// Rank 0 locks the run folder and decides where the run starts (fresh, resumed from the newest
// checkpoint that verifies, or already complete) without writing anything in it: a refused
// command leaves the folder as it was. The others follow its decision. Returns true when the
// run is already complete.
bool decide_run_start(Training& t) {
  const Config& cfg = t.cfg;
  bool complete = false;
  t.dist.agree("run folder check", [&] {
    if (!t.rank0) return;
    for (fs::path p = fs::absolute(cfg.output_dir).lexically_normal(); !p.empty() && !fs::exists(p);
         p = p.parent_path()) {
      t.created_root = p.string();
      if (p == p.parent_path()) break;
    }
    ensure_dir(cfg.output_dir);
    // A requeued job may overlap the old one for the seconds it takes to checkpoint and exit.
    t.lock = FolderLock::acquire(cfg.output_dir, cfg.resume ? 120.0 : 0.0, "scouter train", cfg.lock);
    check_output_dir(cfg);
    t.resume_from = cfg.resume ? latest_verified_checkpoint(cfg.output_dir) : std::string();
    if (!t.resume_from.empty()) {
      CheckpointInfo info = read_checkpoint_info(t.resume_from);
      check_model_signature(info, cfg);
      t.resume_epoch = info.state.epoch;
      complete = info.state.epoch >= cfg.epochs && info.state.step_in_epoch == 0 &&
                 file_exists(cfg.output_dir + "/summary.json");
      if (!complete) check_resume_shape(info, cfg, t.dist.world());
    } else if (cfg.resume && !list_checkpoints(cfg.output_dir).empty()) {
      throw UserError(str_format("no checkpoint in '{}/checkpoints' verifies (each one's reason is "
                                 "logged above)", cfg.output_dir),
                      "restore the files, or start anew in another output_dir");
    } else if (cfg.resume) {
      log::info("resume: no complete checkpoint in {}; starting from scratch", cfg.output_dir);
    }
    if (!complete && t.resume_from.empty() && cfg.use_pre && cfg.pre_checkpoint.empty())
      t.fc_baseline = find_fc_baseline(cfg);  // refuses now, before anything is written
  });
  complete = t.dist.any(complete, "run folder decision");
  if (!complete) t.resume_from = t.dist.broadcast_string(t.resume_from, "resume decision");
  return complete;
}

// Rank 0, when the run was refused before anything of it was written (the folder check, the
// data): a run folder this command created goes again, lock and all, so a refused command leaves
// nothing behind. A folder that existed keeps what it held.
void drop_refused_folder(Training& t) {
  if (!t.rank0 || t.created_root.empty()) return;
  t.lock.reset();
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(t.created_root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_directory() && name.rfind(".lock", 0) != 0) return;  // something else: keep all
  }
  if (!ec) fs::remove_all(t.created_root, ec);
  if (ec) log::warn("could not remove the refused run's folder {}: {}", t.created_root, ec.message());
}

// Rank 0: this start's attempt in provenance.json (worker/train/provenance.h): the build, the
// hosts, the fingerprint of the shards the run reads (the shared copies) and the weights it
// starts from (a resumed run keeps its checkpoint's, but says where they came from).
void record_provenance(const Training& t) {
  const Config& cfg = t.cfg;
  std::vector<std::pair<std::string, std::vector<std::string>>> splits;
  if (t.data.train) splits.emplace_back("train", t.data.train->paths());
  if (t.data.val) splits.emplace_back("val", t.data.val->paths());
  const std::string pre = !cfg.use_pre ? "" : !cfg.pre_checkpoint.empty() ? cfg.pre_checkpoint : t.fc_baseline;
  append_provenance(cfg.output_dir, train_attempt(cfg, t.dist.topology(), splits, pre,
                                                  t.resume_from, t.resume_epoch));
}

// Rank 0, once the run is accepted and its data opened: who holds the folder, the caller's
// records (command line, hosts, version), the resolved config, a metrics.jsonl that holds only
// the epochs the starting checkpoint has (a crash after an epoch's record but before its
// checkpoint left one more), no summary.json (the run is not complete) and no temporaries of
// killed writes.
void record_run_start(Training& t, const StartHook& on_start) {
  t.dist.agree("recording the run", [&] {
    if (!t.rank0) return;
    const Config& cfg = t.cfg;
    t.lock->record_holder();
    int stale = remove_stale_temporaries(cfg.output_dir);
    if (file_exists(cfg.output_dir + "/checkpoints"))
      stale += remove_stale_temporaries(cfg.output_dir + "/checkpoints");
    if (stale > 0) log::info("removed {} temporary file(s) of interrupted writes", stale);
    if (on_start) on_start();
    record_provenance(t);
    write_text_file_atomic(cfg.output_dir + "/config.toml", to_toml(cfg));
    // What explain --image and the report need of the dataset, without its folder.
    write_dataset_info(cfg.output_dir, dataset_info_from_shards(*t.data.train));
    // A finished run resumed to more epochs is no longer complete until it ends again.
    const std::string summary = cfg.output_dir + "/summary.json";
    if (file_exists(summary) && ::unlink(summary.c_str()) == 0) fsync_path(cfg.output_dir);
    truncate_jsonl_after_epoch(cfg.output_dir + "/metrics.jsonl", t.resume_epoch);
  });
}

// Where a run stands in the terms of its checkpoint's name (epoch-0006-step-0000004.h5:
// "6 epochs + 4 steps done"); the logs' "epoch 7/10" counts epochs from 1, the one in progress.
std::string progress_done(const TrainState& s) {
  std::string epochs = str_format("{} epoch{}", s.epoch, s.epoch == 1 ? "" : "s");
  if (s.step_in_epoch == 0) return epochs + " done";
  return str_format("{} + {} step{} done", epochs, s.step_in_epoch, s.step_in_epoch == 1 ? "" : "s");
}

// Rank 0 reads the checkpoint; every rank gets the training state and AdamW's moments, and its
// own random-generator state back.
void resume_state(Training& t) {
  t.dist.agree("loading the checkpoint", [&] {
    if (t.rank0) t.state = load_checkpoint(t.resume_from, *t.model, &t.steps->optimizer(), t.cfg).state;
  });
  if (t.dist.broadcaster()) {
    t.dist.comm()->broadcast(&t.state, sizeof t.state, 0, "broadcast of the training state");
    broadcast_adamw_state(t.steps->optimizer(), *t.dist.broadcaster(), 0);
  }
  torch::Tensor rng = read_rank_rng(t.resume_from, t.dist.rank());
  if (rng.defined()) set_cpu_rng_state(rng);
  if (t.state.step_in_epoch != 0) t.resumed_sums = read_rank_sums(t.resume_from, t.dist.rank());
  if (t.rank0)
    log::info("resumed from {} ({})", t.resume_from, progress_done(t.state));
}

void open_data(Training& t) {
  t.dist.agree("opening the data", [&] {
    t.data = open_run_data(t.cfg, true, t.dist.rank(), t.dist.world(),
                           /*raw=*/StepOptions::for_device(t.device, t.precision.bf16).gpu_input);
  });
}

// The model on its device with its starting weights (loaded backbone, then freezing), the step
// runner (optimizer, GPU input path) over the trained parameters, a resumed state, every rank
// holding rank 0's weights, and the gradient buckets.
void build_model_and_optimizer(Training& t) {
  const Config& cfg = t.cfg;
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  t.model = ScouterModel(cfg, t.data.in_chans);
  // Loaded weights are rank 0's; broadcast_module below gives them to the others. A resumed run
  // has them in its checkpoint already.
  const bool loads_backbone = cfg.use_pre || !cfg.pretrained.empty();
  if (loads_backbone && t.resume_from.empty())
    t.dist.agree("loading backbone weights", [&] {
      if (!t.rank0) return;
      if (!cfg.pretrained.empty()) load_pretrained(cfg.pretrained, *t.model->backbone);
      if (cfg.use_pre)  // after pretrained, as the published code loads its FC baseline over timm's weights
        load_backbone_weights(cfg.pre_checkpoint.empty() ? t.fc_baseline : cfg.pre_checkpoint,
                              *t.model);
    });
  // The published code freezes whenever it starts from loaded weights.
  if (loads_backbone) {
    int64_t frozen = freeze_backbone(*t.model->backbone, cfg.freeze_layers);
    if (t.rank0) log::info("freeze_layers = {}: {} backbone tensors frozen", cfg.freeze_layers, frozen);
  }
  t.model->to(t.device);
  BatchLoader& loader = *t.data.train_loader;
  t.steps = std::make_unique<StepRunner>(cfg, t.model, t.device, t.dist, t.data.train->meta(),
                                         loader.out_height(), loader.out_width(),
                                         StepOptions::for_device(t.device, t.precision.bf16));
  if (!t.resume_from.empty()) resume_state(t);
  if (t.dist.broadcaster()) broadcast_module(*t.model, *t.dist.broadcaster(), 0);
  t.steps->state_changed();
  t.steps->start_gradient_sync();
}

// How OpenMP threads wait (launcher/main.cpp bounds their spinning unless the user chose).
std::string openmp_wait() {
  for (const char* name : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"})
    if (const char* v = std::getenv(name)) return str_format("{}={}", name, std::string(v));
  return "libgomp's default spinning";
}

void log_run_header(const Training& t) {
  if (!t.rank0) return;
  const Config& cfg = t.cfg;
  int64_t n_trainable = 0, n_total = 0;
  for (const auto& p : t.model->parameters()) {
    n_total += p.numel();
    if (p.requires_grad()) n_trainable += p.numel();
  }
  log::info("run {}: {} {} on {} ({} train samples, {} steps/epoch of {} x {} ranks{}; {} val), "
            "{:.3f} M parameters ({:.3f} M trained); {}; {} threads/rank ({}), {}{}",
            cfg.output_dir, cfg.use_slot ? (cfg.loss_status > 0 ? "SCOUTER+" : "SCOUTER-") : "FC",
            cfg.model, cfg.dataset, t.data.plan->samples.size(), t.data.plan->steps_per_epoch(),
            cfg.batch_size, t.dist.world(),
            cfg.accum_steps > 1 ? str_format(" x {} micro-batches (effective batch {})", cfg.accum_steps,
                                             cfg.batch_size * t.dist.world() * cfg.accum_steps)
                                : std::string(),
            t.data.val->size(), n_total / 1e6, n_trainable / 1e6,
            t.dist.topology().describe(), t.threads, openmp_wait(), t.device.str(),
            t.steps->sync() ? str_format(", gradients by {} in {} buckets", t.dist.backend()->name(),
                                             t.steps->sync()->num_buckets())
                               : std::string());
  log::info("steps: {}", t.steps->describe());
  if (t.device.is_cuda() && cfg.cuda_graphs && cfg.accum_steps > 1)
    log::warn("cuda_graphs: not used with accum_steps = {}: a CUDA graph holds one whole step "
              "(forward, backward, averaging, AdamW), so accumulated steps run eager",
              cfg.accum_steps);
}

// Writes a mid-epoch checkpoint after a stop request that every rank saw (SIGTERM, SIGUSR1).
void stop_with_checkpoint(Training& t, int64_t epoch, int sig) {
  std::string path = checkpoint_path(t.cfg.output_dir, t.state.epoch, t.state.step_in_epoch);
  save(t, path);
  t.result.stopped_by = sig != 0 ? sig : 15;
  if (t.rank0)
    log::warn("stopped by {} in epoch {}/{} after its step {} ({}): checkpoint {} written; "
              "continue with --resume true (exit status {})",
              signal_name(sig), epoch + 1, t.cfg.epochs, t.state.step_in_epoch,
              progress_done(t.state), path, kExitRequeue);
}

// Stops the run at a non-finite loss or gradient: every rank agreed (the flag travels with the
// stop check), nothing is saved, so the newest checkpoint stays the last finite one.
void stop_diverged(Training& t, int64_t epoch, const StepSums& mine, const std::string& when) {
  t.result.diverged = true;
  std::string last = t.rank0 ? latest_checkpoint(t.cfg.output_dir) : std::string();
  if (mine.finite())
    log::error("training diverged {} of epoch {} on another rank (this rank's loss is finite)",
               when, epoch + 1);
  else
    log::error("training diverged {} of epoch {} (global step {}): {} stopped being finite "
               "(nll {}, attention {}); nothing was saved after it, {} (exit status {})",
               when, epoch + 1, t.state.global_step, mine.non_finite_terms(), mine.nll / mine.count,
               mine.attn / mine.count,
               last.empty() ? std::string("and the run has no checkpoint yet")
                            : "the last finite checkpoint is " + last + "; lower lr and resume from it",
               kExitDiverged);
}

// The training batches of one epoch (from where a resumed run stopped). Returns false when a
// stop request ended it early (checkpoint written) or the loss diverged (nothing written).
bool train_epoch(Training& t, int64_t epoch) {
  const Config& cfg = t.cfg;
  t.epoch_start = Clock::now();
  t.epoch_times = EpochTimes{};
  stage_for_epoch(t.dist, t.data, cfg, epoch, /*with_val=*/t.result.epochs_run == 0);
  t.model->train();
  t.steps->reset_sums();
  if (!t.resumed_sums.empty()) t.steps->set_sums(t.resumed_sums);  // the epoch's earlier steps
  t.resumed_sums.clear();
  t.epoch_images = 0;
  BatchLoader& loader = *t.data.train_loader;
  // The loader serves micro-batches: accum_steps of them make one step (the trainer's unit).
  const int64_t micro = cfg.accum_steps;
  loader.start_epoch(epoch, t.state.step_in_epoch * micro);
  Progress progress(str_format("epoch {}/{}", epoch + 1, cfg.epochs),
                    (loader.batches_per_epoch() - t.state.step_in_epoch * micro) * cfg.batch_size * t.dist.world(),
                    "img", t.rank0);
  // The time blocked in next() is what the loader thread did not have ready.
  auto next_batch = [&] {
    const Clock::time_point asked = Clock::now();
    std::optional<Batch> batch = loader.next();
    t.epoch_times.data_wait_s += seconds_since(asked);
    return batch;
  };
  int64_t n = 0;  // images of this rank in the current step
  while (auto batch = next_batch()) {
    n += batch->size;
    const int64_t k = t.steps->micro_batch();
    if (k == 0) t.dist.set_step(t.state.global_step);
    t.holds.before_step(t.dist.rank(), t.state.global_step, epoch + 1, t.state.step_in_epoch, k);
    // A stop request in the middle of a step's micro-batches is seen at its end (below): the
    // accumulated gradient never needs saving.
    if (!t.steps->run(std::move(*batch))) continue;
    ++t.state.global_step;
    ++t.state.step_in_epoch;
    std::string status;
    bool finite = true;
    StepSums s;
    const bool due = progress.due();
    if (due || t.steps->checks_every_step()) {  // on a GPU reading the sums waits for it
      s = t.steps->sums();
      finite = s.finite();
      if (due) status = str_format("loss {:.4f} acc {:.4f}", s.loss / s.count, s.correct / s.count);
    }
    progress.advance(n * t.dist.world(), status);
    t.epoch_images += static_cast<double>(n * t.dist.world());
    n = 0;
    // One collective per step carries both: a stop request, and a non-finite loss on any rank.
    const int sig = stop_requested();
    int64_t flags[2] = {sig != 0, !finite};
    t.dist.sum(flags, 2, "stop check");
    if (flags[1] != 0) {
      progress.finish();
      stop_diverged(t, epoch, s, t.steps->checks_every_step()
                                     ? str_format("at step {}", t.state.step_in_epoch)
                                     : str_format("by step {}", t.state.step_in_epoch));
      return false;
    }
    if (flags[0] != 0) {
      progress.finish();
      stop_with_checkpoint(t, epoch, sig);
      return false;
    }
  }
  progress.finish();
  t.epoch_times.steps_s = progress.elapsed_s();
  return true;
}

// After an epoch's batches: the epoch's sums over ranks, validation, the metrics record, the
// epoch checkpoint, and the epoch's line in the log (after the checkpoint, whose time it gives).
// Returns false when the epoch's loss was not finite (nothing written).
bool end_epoch(Training& t, int64_t epoch, double lr) {
  const Config& cfg = t.cfg;
  EpochTimes& times = t.epoch_times;
  const double train_s = times.steps_s;
  StepSums mine = t.steps->sums();
  double sums[6] = {mine.loss, mine.nll, mine.attn, mine.correct, mine.count, mine.bad_grad_steps};
  t.dist.sum(sums, 6, "epoch metrics");
  StepSums all{sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]};
  if (!all.finite()) {  // the GPU path checks per progress line; this catches the rest
    stop_diverged(t, epoch, mine, "by the end");
    return false;
  }
  t.train_seconds += train_s;
  t.train_samples += t.epoch_images;  // a resumed epoch's speed counts this process's images
  t.state.step_in_epoch = 0;
  t.state.epoch = epoch + 1;

  const Clock::time_point val_start = Clock::now();
  share_buffers(t);
  EvalResult ev = evaluate_all(t.dist, t.model, *t.data.val_loader, cfg, t.device, t.steps->input());
  times.val_s = seconds_since(val_start);
  if (ev.acc() > t.state.best_val_acc) {
    t.state.best_val_acc = ev.acc();
    t.state.best_epoch = epoch + 1;
  }
  if (t.rank0) {
    append_jsonl(cfg.output_dir + "/metrics.jsonl",
                 epoch_record(epoch + 1, lr, all.loss / all.count, all.nll / all.count,
                              all.attn / all.count, all.correct / all.count, ev, cfg.use_slot,
                              t.epoch_images / train_s, train_s, times.data_wait_s,
                              t.steps->sync() ? t.steps->sync()->stats() : GradSyncStats{}));
  }
  if (t.steps->sync()) t.steps->sync()->reset_stats();
  const Clock::time_point save_start = Clock::now();
  save(t, checkpoint_path(cfg.output_dir, t.state.epoch));
  times.checkpoint_s = seconds_since(save_start);
  times.epoch_s = seconds_since(t.epoch_start);
  t.result.epoch_times += times;
  if (t.rank0)
    log::info("epoch {}/{}: train loss {:.4f} (nll {:.4f} attn {:.4f}) acc {:.4f} | val loss "
              "{:.4f} acc {:.4f} ({}/{}){} | {:.0f} img/s, lr {:.2g} | {}",
              epoch + 1, cfg.epochs, all.loss / all.count, all.nll / all.count,
              all.attn / all.count, all.correct / all.count, ev.loss(), ev.acc(), ev.correct,
              ev.count, cfg.use_slot ? str_format(" area {:.4f}", ev.area()) : std::string(),
              t.epoch_images / train_s, lr, times.describe());
  t.result.final_val_acc = ev.acc();
  t.result.final_val_area = ev.area();
  ++t.result.epochs_run;
  return true;
}

// The end of a run: the final figures, the finish hook (attention pictures), and summary.json,
// which marks the run complete.
TrainResult finish_run(Training& t, const FinishHook& on_finish) {
  const Config& cfg = t.cfg;
  if (t.result.epochs_run == 0) {
    // Resumed at the last epoch boundary without a summary: evaluate once for the record.
    share_buffers(t);
    EvalResult ev = evaluate_all(t.dist, t.model, *t.data.val_loader, cfg, t.device, t.steps->input());
    t.result.final_val_acc = ev.acc();
    t.result.final_val_area = ev.area();
  }
  TrainResult& r = t.result;
  r.best_val_acc = t.state.best_val_acc;
  r.best_epoch = t.state.best_epoch;
  r.train_images_per_s = t.train_seconds > 0 ? t.train_samples / t.train_seconds : 0;
  r.total_seconds = seconds_since(t.t_start);
  t.dist.agree("finishing the run", [&] {
    if (!t.rank0) return;
    if (on_finish) on_finish(t.model);
    write_text_file_atomic(cfg.output_dir + "/summary.json",
                           summary_json(cfg, r, t.started, t.dist.world()).dump(2) + "\n");
    log::info("run {} done: val acc {:.4f} (best {:.4f} at epoch {}){} in {}", cfg.output_dir,
              r.final_val_acc, r.best_val_acc, r.best_epoch,
              cfg.use_slot ? str_format(", area {:.4f}", r.final_val_area) : std::string(),
              format_duration(r.total_seconds));
  });
  return r;
}

}  // namespace

TrainResult train_run(const Config& cfg, const Origins& origins, const FinishHook& on_finish,
                      const StartHook& on_start) {
  validate_run_config(cfg, origins);
  install_stop_handlers();  // scouter train did so at its start already; library callers here
  Training t(cfg);
  bool complete = false;
  try {
    complete = decide_run_start(t);
    if (!complete) open_data(t);
  } catch (...) {
    drop_refused_folder(t);
    throw;
  }
  if (complete) {
    if (t.rank0) log::info("run {} is already complete; nothing to do", cfg.output_dir);
    if (t.rank0) return result_from_summary(cfg.output_dir + "/summary.json");
    TrainResult done;
    done.already_complete = true;
    return done;
  }
  record_run_start(t, on_start);
  build_model_and_optimizer(t);
  log_run_header(t);

  for (int64_t epoch = t.state.epoch; epoch < cfg.epochs; ++epoch) {
    const double lr = lr_at_epoch(cfg, epoch);
    t.steps->set_lr(lr);
    // Stopped by a signal (checkpoint written) or diverged (nothing written).
    if (!train_epoch(t, epoch) || !end_epoch(t, epoch, lr)) return t.result;
  }
  return finish_run(t, on_finish);
}

}  // namespace scouter
