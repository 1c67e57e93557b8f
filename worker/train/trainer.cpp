#include "worker/train/trainer.h"

#include <sched.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/metrics_log.h"
#include "common/progress.h"
#include "common/stop_signal.h"
#include "common/version.h"
#include "worker/dist/distributed.h"
#include "worker/model/scouter_model.h"
#include "worker/train/checkpoint.h"
#include "worker/train/data.h"
#include "worker/train/evaluate.h"
#include "worker/train/pretrained.h"
#include "worker/train/run_collectives.h"
#include "worker/train/run_summary.h"
#include "worker/train/state_sync.h"
#include "worker/train/step_runner.h"

namespace scouter {

int64_t resolve_threads(int64_t requested) {
  if (requested > 0) return requested;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return 1;
}

int64_t configure_threads(int64_t requested) {
  int64_t n = resolve_threads(requested);
  at::set_num_threads(static_cast<int>(n));
  return n;
}

torch::Device pick_device(const Config& cfg, const Topology& topo) {
  if (cfg.device == "cpu") return torch::kCPU;
  if (!torch::cuda::is_available())
    throw UserError("device = \"cuda\" but this LibTorch has no CUDA (or no GPU is visible)",
                    "use device = \"cpu\", or build against a CUDA LibTorch (README)");
  // One GPU per rank of a node: the local rank's.
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(
                                         topo.local_rank % static_cast<int>(torch::cuda::device_count())));
}

namespace {

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
  std::chrono::steady_clock::time_point t_start = std::chrono::steady_clock::now();
  std::string started = now_iso();
  std::string resume_from;
  RunData data;
  ScouterModel model{nullptr};
  std::unique_ptr<StepRunner> steps;
  TrainState state;
  TrainResult result;
  double train_seconds = 0, train_samples = 0;

  explicit Training(const Config& c)
      : cfg(c), dist(c), rank0(dist.rank0()), threads(configure_threads(c.threads)),
        device(pick_device(c, dist.topology())) {}
};

// Checkpoints through save_synced, with the optimizer state brought out of the step runner.
void save(Training& t, const std::string& path) {
  t.steps->sync_state_out();
  save_synced(t.dist, path, *t.model, t.steps->optimizer(), t.state, t.cfg);
}

// Rank 0 decides where the run starts (fresh, resumed from a checkpoint, or already complete);
// the others follow its decision. Returns true when the run is already complete.
bool decide_run_start(Training& t) {
  const Config& cfg = t.cfg;
  bool complete = false;
  t.dist.agree("run folder check", [&] {
    if (!t.rank0) return;
    ensure_dir(cfg.output_dir);
    check_output_dir(cfg);
    t.resume_from = cfg.resume ? latest_checkpoint(cfg.output_dir) : std::string();
    if (!t.resume_from.empty()) {
      CheckpointInfo info = read_checkpoint_info(t.resume_from);
      complete = info.state.epoch >= cfg.epochs && info.state.step_in_epoch == 0 &&
                 file_exists(cfg.output_dir + "/summary.json");
      if (!complete && info.world_size != t.dist.world() && info.state.step_in_epoch != 0)
        throw UserError(str_format("checkpoint '{}' stopped mid-epoch in a run of {} ranks; this "
                                   "run has {}", t.resume_from, info.world_size, t.dist.world()),
                        str_format("resume mid-epoch with {} ranks (the data plan depends on "
                                   "the world size); a different count works from an epoch "
                                   "boundary", info.world_size));
      if (!complete && info.world_size != t.dist.world())
        log::warn("resuming a run of {} ranks with {}: from here the data order differs from "
                  "an uninterrupted {}-rank run", info.world_size, t.dist.world(), info.world_size);
    } else if (cfg.resume) {
      log::info("resume: no complete checkpoint in {}; starting from scratch", cfg.output_dir);
    }
    if (!complete) write_text_file_atomic(cfg.output_dir + "/config.toml", to_toml(cfg));
  });
  complete = t.dist.any(complete, "run folder decision");
  if (!complete) t.resume_from = t.dist.broadcast_string(t.resume_from, "resume decision");
  return complete;
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
  if (t.rank0) {
    log::info("resumed from {} (epoch {} done, step {})", t.resume_from, t.state.epoch,
              t.state.step_in_epoch);
    truncate_jsonl_after_epoch(t.cfg.output_dir + "/metrics.jsonl", t.state.epoch);
  }
}

// The model on its device with its starting weights (loaded backbone, then freezing), the step
// runner (optimizer, GPU input path) over the trained parameters, a resumed state, every rank
// holding rank 0's weights, and the gradient buckets.
void build_model_and_optimizer(Training& t) {
  const Config& cfg = t.cfg;
  t.dist.agree("opening the data", [&] {
    t.data = open_run_data(cfg, true, t.dist.rank(), t.dist.world(),
                           /*raw=*/StepOptions::for_device(t.device).gpu_input);
  });
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
        load_backbone_weights(cfg.pre_checkpoint.empty() ? find_fc_baseline(cfg) : cfg.pre_checkpoint,
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
                                         StepOptions::for_device(t.device));
  if (!t.resume_from.empty()) resume_state(t);
  if (t.dist.broadcaster()) broadcast_module(*t.model, *t.dist.broadcaster(), 0);
  t.steps->state_changed();
  t.steps->start_gradient_sync();
}

void log_run_header(const Training& t) {
  if (!t.rank0) return;
  const Config& cfg = t.cfg;
  int64_t n_trainable = 0, n_total = 0;
  for (const auto& p : t.model->parameters()) {
    n_total += p.numel();
    if (p.requires_grad()) n_trainable += p.numel();
  }
  log::info("run {}: {} {} on {} ({} train samples, {} steps/epoch of {} x {} ranks; {} val), "
            "{:.3f} M parameters ({:.3f} M trained); {}; {} threads/rank, {}{}",
            cfg.output_dir, cfg.use_slot ? (cfg.loss_status > 0 ? "SCOUTER+" : "SCOUTER-") : "FC",
            cfg.model, cfg.dataset, t.data.plan->samples.size(), t.data.plan->steps_per_epoch(),
            cfg.batch_size, t.dist.world(), t.data.val->size(), n_total / 1e6, n_trainable / 1e6,
            t.dist.topology().describe(), t.threads, t.device.str(),
            t.steps->sync() ? str_format(", gradients by {} in {} buckets", t.dist.backend()->name(),
                                             t.steps->sync()->num_buckets())
                               : std::string());
  log::info("steps: {}", t.steps->describe());
}

// Writes a mid-epoch checkpoint after a stop request that every rank saw (SIGTERM, SIGUSR1).
void stop_with_checkpoint(Training& t, int64_t epoch, int sig) {
  std::string path = checkpoint_path(t.cfg.output_dir, t.state.epoch, t.state.step_in_epoch);
  save(t, path);
  t.result.stopped_by = sig != 0 ? sig : 15;
  if (t.rank0)
    log::warn("stopped by {} after epoch {} step {}: checkpoint {} written; continue with "
              "--resume true (exit status {})",
              signal_name(sig), epoch + 1, t.state.step_in_epoch, path, kExitRequeue);
}

// The training batches of one epoch (from where a resumed run stopped). Returns false when a
// stop request ended it early (checkpoint written).
bool train_epoch(Training& t, int64_t epoch, double& seconds) {
  const Config& cfg = t.cfg;
  stage_for_epoch(t.dist, t.data, cfg, epoch, /*with_val=*/t.result.epochs_run == 0);
  t.model->train();
  t.steps->reset_sums();
  BatchLoader& loader = *t.data.train_loader;
  loader.start_epoch(epoch, t.state.step_in_epoch);
  Progress progress(str_format("epoch {}/{}", epoch + 1, cfg.epochs),
                    (loader.batches_per_epoch() - t.state.step_in_epoch) * cfg.batch_size * t.dist.world(),
                    "img", t.rank0);
  while (auto batch = loader.next()) {
    const int64_t n = batch->size;
    t.dist.set_step(t.state.global_step);
    t.steps->run(std::move(*batch));
    ++t.state.global_step;
    ++t.state.step_in_epoch;
    std::string status;
    if (progress.due()) {  // reading the sums waits for the GPU: only when a line is drawn
      StepSums s = t.steps->sums();
      status = str_format("loss {:.4f} acc {:.4f}", s.loss / s.count, s.correct / s.count);
    }
    progress.advance(n * t.dist.world(), status);
    int sig = stop_requested();
    if (t.dist.any(sig != 0, "stop check")) {
      progress.finish();
      stop_with_checkpoint(t, epoch, sig);
      return false;
    }
  }
  progress.finish();
  seconds = progress.elapsed_s();
  return true;
}

// After an epoch's batches: the epoch's sums over ranks, validation, the metrics record and the
// epoch checkpoint.
void end_epoch(Training& t, int64_t epoch, double lr, double train_s) {
  const Config& cfg = t.cfg;
  StepSums mine = t.steps->sums();
  double sums[5] = {mine.loss, mine.nll, mine.attn, mine.correct, mine.count};
  t.dist.sum(sums, 5, "epoch metrics");
  StepSums all{sums[0], sums[1], sums[2], sums[3], sums[4]};
  t.train_seconds += train_s;
  t.train_samples += all.count;
  t.state.step_in_epoch = 0;
  t.state.epoch = epoch + 1;

  EvalResult ev = evaluate_all(t.dist, t.model, *t.data.val_loader, cfg, t.device, t.steps->input());
  if (ev.acc() > t.state.best_val_acc) {
    t.state.best_val_acc = ev.acc();
    t.state.best_epoch = epoch + 1;
  }
  if (t.rank0) {
    append_jsonl(cfg.output_dir + "/metrics.jsonl",
                 epoch_record(epoch + 1, lr, all.loss / all.count, all.nll / all.count,
                              all.attn / all.count, all.correct / all.count, ev, cfg.use_slot,
                              all.count / train_s, train_s,
                              t.steps->sync() ? t.steps->sync()->stats() : GradSyncStats{}));
    log::info("epoch {}/{}: train loss {:.4f} (nll {:.4f} attn {:.4f}) acc {:.4f} | val loss "
              "{:.4f} acc {:.4f} ({}/{}){} | {:.0f} img/s, lr {:.2g}",
              epoch + 1, cfg.epochs, all.loss / all.count, all.nll / all.count,
              all.attn / all.count, all.correct / all.count, ev.loss(), ev.acc(), ev.correct,
              ev.count, cfg.use_slot ? str_format(" area {:.4f}", ev.area()) : std::string(),
              all.count / train_s, lr);
  }
  if (t.steps->sync()) t.steps->sync()->reset_stats();
  save(t, checkpoint_path(cfg.output_dir, t.state.epoch));
  t.result.final_val_acc = ev.acc();
  t.result.final_val_area = ev.area();
  ++t.result.epochs_run;
}

// The end of a run: the final figures, the finish hook (attention pictures), and summary.json,
// which marks the run complete.
TrainResult finish_run(Training& t, const FinishHook& on_finish) {
  const Config& cfg = t.cfg;
  if (t.result.epochs_run == 0) {
    // Resumed at the last epoch boundary without a summary: evaluate once for the record.
    EvalResult ev = evaluate_all(t.dist, t.model, *t.data.val_loader, cfg, t.device, t.steps->input());
    t.result.final_val_acc = ev.acc();
    t.result.final_val_area = ev.area();
  }
  TrainResult& r = t.result;
  r.best_val_acc = t.state.best_val_acc;
  r.best_epoch = t.state.best_epoch;
  r.train_images_per_s = t.train_seconds > 0 ? t.train_samples / t.train_seconds : 0;
  r.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t.t_start).count();
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

TrainResult train_run(const Config& cfg, const Origins& origins, const FinishHook& on_finish) {
  validate(cfg, origins);
  clear_stop_request();
  Training t(cfg);
  if (decide_run_start(t)) {
    if (t.rank0) log::info("run {} is already complete; nothing to do", cfg.output_dir);
    if (t.rank0) return result_from_summary(cfg.output_dir + "/summary.json");
    TrainResult done;
    done.already_complete = true;
    return done;
  }
  build_model_and_optimizer(t);
  install_stop_handlers();
  log_run_header(t);

  for (int64_t epoch = t.state.epoch; epoch < cfg.epochs; ++epoch) {
    const double lr = lr_at_epoch(cfg, epoch);
    t.steps->set_lr(lr);
    double train_s = 0;
    if (!train_epoch(t, epoch, train_s)) return t.result;  // stopped, checkpoint written
    end_epoch(t, epoch, lr, train_s);
  }
  return finish_run(t, on_finish);
}

}  // namespace scouter
