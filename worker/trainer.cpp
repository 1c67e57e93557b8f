#include "worker/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <set>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/metrics_log.h"
#include "common/progress.h"
#include "common/stop_signal.h"
#include "common/version.h"
#include "datasets/staging.h"
#include "worker/checkpoint.h"
#include "worker/data.h"
#include "worker/distributed.h"
#include "worker/evaluate.h"
#include "worker/grad_sync.h"
#include "worker/pretrained.h"
#include "worker/run_summary.h"
#include "worker/scouter_model.h"
#include "worker/state_sync.h"
#include "worker/tensor_batch.h"
#include "worker/vis.h"

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

torch::Tensor cpu_rng_state() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle sharing the impl
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cpu_rng_state(const torch::Tensor& state) {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// Rank 0 writes; every rank's generator state goes into the file; the completion marker only
// after all ranks got past the save (agree() is the barrier).
void save_synced(Distributed& dist, const std::string& path, torch::nn::Module& model,
                 torch::optim::Optimizer& opt, const TrainState& state, const Config& cfg) {
  torch::Tensor mine = cpu_rng_state().contiguous();
  std::vector<torch::Tensor> all{mine};
  if (dist.comm() && dist.world() > 1) {
    torch::Tensor gathered = torch::empty({dist.world() * mine.numel()}, torch::kUInt8);
    dist.comm()->gather(mine.data_ptr(), mine.numel(), gathered.data_ptr(), 0, "checkpoint rng gather");
    all = gathered.split(mine.numel());
  }
  dist.agree("checkpoint save", [&] {
    if (dist.rank0()) save_checkpoint(path, model, &opt, state, cfg, all);
  });
  if (dist.rank0()) {
    mark_complete(path);
    prune_checkpoints(cfg.output_dir, cfg.keep_checkpoints);
  }
}

// Every rank evaluates its part; the sums (not means) are added across ranks.
EvalResult evaluate_all(Distributed& dist, ScouterModel& model, BatchLoader& loader,
                        const Config& cfg, torch::Device device) {
  EvalResult ev = evaluate(model, loader, cfg.lambda_value, device);
  double sums[4] = {ev.loss_sum, ev.nll_sum, ev.attn_sum, std::isfinite(ev.area_sum) ? ev.area_sum : 0};
  int64_t counts[2] = {ev.correct, ev.count};
  dist.sum(sums, 4, "evaluation sums");
  dist.sum(counts, 2, "evaluation counts");
  ev.loss_sum = sums[0];
  ev.nll_sum = sums[1];
  ev.attn_sum = sums[2];
  ev.area_sum = cfg.use_slot ? sums[3] : NAN;
  ev.correct = counts[0];
  ev.count = counts[1];
  return ev;
}

// Copies the shard files this node's ranks read in `epoch` (and, the first time, their
// validation shards) to stage_dir, then points the shard sets at the local copies.
void stage_for_epoch(Distributed& dist, RunData& data, const Config& cfg, int64_t epoch, bool with_val) {
  if (cfg.stage_dir.empty() || !dist.comm()) return;
  const Topology& topo = dist.topology();
  std::string dir = staging_folder(cfg.stage_dir, cfg.dataset_dir);
  auto stage = [&](ShardSet& shards, const std::vector<int64_t>& needs, const char* split) {
    std::vector<std::string> local;
    StagingReport rep = stage_files(*dist.comm(), topo, shards.paths(), needs, dir, local);
    for (int64_t f : needs) shards.use_local_copy(f, local[static_cast<size_t>(f)]);
    if (dist.rank0())
      spdlog::log(rep.files_sent > 0 || with_val ? spdlog::level::info : spdlog::level::debug,
                  "staging {} (epoch {}): {} file(s), {:.1f} MB sent, {} already verified, {:.1f} s -> {}",
                  split, epoch + 1, rep.files_sent, rep.bytes_sent / 1e6, rep.files_verified,
                  rep.seconds, dir);
  };
  std::set<int64_t> train_needs, val_needs;
  std::vector<int64_t> val_samples = samples_of_first_classes(*data.val, cfg.num_classes);
  std::vector<int64_t> val_first = data.val->shard_firsts();
  for (int r = 0; r < topo.world; ++r) {
    if (topo.hosts[static_cast<size_t>(r)] != topo.host) continue;
    for (int64_t f : data.plan->rank_shards(epoch, r)) train_needs.insert(f);
    for (int64_t i : eval_part(val_samples, topo.world, r)) {
      auto it = std::upper_bound(val_first.begin(), val_first.end(), i);
      val_needs.insert(static_cast<int64_t>(it - val_first.begin()) - 1);
    }
  }
  stage(*data.train, {train_needs.begin(), train_needs.end()}, "train");
  if (with_val) stage(*data.val, {val_needs.begin(), val_needs.end()}, "val");
}

struct Totals {
  double loss = 0, nll = 0, attn = 0, correct = 0, count = 0;
};

}  // namespace

TrainResult train_run(const Config& cfg, const Origins& origins) {
  validate(cfg, origins);
  auto t_start = std::chrono::steady_clock::now();
  std::string started = now_iso();
  clear_stop_request();
  Distributed dist(cfg);
  const bool rank0 = dist.rank0();
  int64_t threads = configure_threads(cfg.threads);
  torch::Device device = pick_device(cfg, dist.topology());

  // Rank 0 decides where the run starts; the others follow its decision.
  std::string resume_from;
  bool complete = false;
  dist.agree("run folder check", [&] {
    if (!rank0) return;
    ensure_dir(cfg.output_dir);
    check_output_dir(cfg);
    resume_from = cfg.resume ? latest_checkpoint(cfg.output_dir) : std::string();
    if (!resume_from.empty()) {
      CheckpointInfo info = read_checkpoint_info(resume_from);
      complete = info.state.epoch >= cfg.epochs && info.state.step_in_epoch == 0 &&
                 file_exists(cfg.output_dir + "/summary.json");
      if (!complete && info.world_size != dist.world() && info.state.step_in_epoch != 0)
        throw UserError(fmt::format("checkpoint '{}' stopped mid-epoch in a run of {} ranks; this "
                                    "run has {}", resume_from, info.world_size, dist.world()),
                        fmt::format("resume mid-epoch with {} ranks (the data plan depends on "
                                    "the world size); a different count works from an epoch "
                                    "boundary", info.world_size));
      if (!complete && info.world_size != dist.world())
        spdlog::warn("resuming a run of {} ranks with {}: from here the data order differs from "
                     "an uninterrupted {}-rank run", info.world_size, dist.world(), info.world_size);
    } else if (cfg.resume) {
      spdlog::info("resume: no complete checkpoint in {}; starting from scratch", cfg.output_dir);
    }
    if (!complete) write_text_file_atomic(cfg.output_dir + "/config.toml", to_toml(cfg));
  });
  complete = dist.any(complete, "run folder decision");
  if (complete) {
    if (rank0) spdlog::info("run {} is already complete; nothing to do", cfg.output_dir);
    if (rank0) return result_from_summary(cfg.output_dir + "/summary.json");
    TrainResult done;
    done.already_complete = true;
    return done;
  }
  resume_from = dist.broadcast_string(resume_from, "resume decision");

  RunData data;
  dist.agree("opening the data", [&] { data = open_run_data(cfg, true, dist.rank(), dist.world()); });
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  ScouterModel model(cfg, data.in_chans);
  // Loaded weights are rank 0's; broadcast_module below gives them to the others. A resumed run
  // has them in its checkpoint already.
  const bool loads_backbone = cfg.use_pre || !cfg.pretrained.empty();
  if (loads_backbone && resume_from.empty())
    dist.agree("loading backbone weights", [&] {
      if (!rank0) return;
      if (!cfg.pretrained.empty()) load_pretrained(cfg.pretrained, *model->backbone);
      if (cfg.use_pre)  // after pretrained, as the published code loads its FC baseline over timm's weights
        load_backbone_weights(cfg.pre_checkpoint.empty() ? find_fc_baseline(cfg) : cfg.pre_checkpoint, *model);
    });
  // The published code freezes whenever it starts from loaded weights.
  if (loads_backbone) {
    int64_t frozen = freeze_backbone(*model->backbone, cfg.freeze_layers);
    if (rank0) spdlog::info("freeze_layers = {}: {} backbone tensors frozen", cfg.freeze_layers, frozen);
  }
  model->to(device);
  std::vector<torch::Tensor> trainable;
  std::vector<std::pair<std::string, torch::Tensor>> named_trainable;
  int64_t n_trainable = 0, n_total = 0;
  for (auto& p : model->named_parameters()) {
    n_total += p.value().numel();
    if (!p.value().requires_grad()) continue;
    trainable.push_back(p.value());
    named_trainable.emplace_back(p.key(), p.value());
    n_trainable += p.value().numel();
  }
  torch::optim::AdamW optimizer(trainable,
                                torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));

  TrainState state;
  if (!resume_from.empty()) {
    dist.agree("loading the checkpoint", [&] {
      if (rank0) state = load_checkpoint(resume_from, *model, &optimizer, cfg).state;
    });
    if (dist.broadcaster()) {
      dist.comm()->broadcast(&state, sizeof state, 0, "broadcast of the training state");
      broadcast_adamw_state(optimizer, *dist.broadcaster(), 0);
    }
    torch::Tensor rng = read_rank_rng(resume_from, dist.rank());
    if (rng.defined()) set_cpu_rng_state(rng);
    if (rank0) {
      spdlog::info("resumed from {} (epoch {} done, step {})", resume_from, state.epoch, state.step_in_epoch);
      truncate_jsonl_after_epoch(cfg.output_dir + "/metrics.jsonl", state.epoch);
    }
  }
  if (dist.broadcaster()) broadcast_module(*model, *dist.broadcaster(), 0);
  std::unique_ptr<GradSync> sync;
  if (dist.backend())
    sync = std::make_unique<GradSync>(named_trainable, dist.backend(),
                                      static_cast<int64_t>(cfg.bucket_mb * 1e6), cfg.overlap);
  install_stop_handlers();

  if (rank0)
    spdlog::info("run {}: {} {} on {} ({} train samples, {} steps/epoch of {} x {} ranks; {} val), "
                 "{:.3f} M parameters ({:.3f} M trained); {}; {} threads/rank, {}{}",
                 cfg.output_dir, cfg.use_slot ? (cfg.loss_status > 0 ? "SCOUTER+" : "SCOUTER-") : "FC",
                 cfg.model, cfg.dataset, data.plan->samples.size(), data.plan->steps_per_epoch(),
                 cfg.batch_size, dist.world(), data.val->size(), n_total / 1e6, n_trainable / 1e6,
                 dist.topology().describe(), threads, device.str(),
                 sync ? fmt::format(", gradients by {} in {} buckets", dist.backend()->name(), sync->num_buckets())
                      : std::string());

  TrainResult result;
  const int64_t first_epoch = state.epoch;
  double train_seconds_total = 0;
  double train_samples_total = 0;
  for (int64_t epoch = state.epoch; epoch < cfg.epochs; ++epoch) {
    double lr = lr_at_epoch(cfg, epoch);
    for (auto& g : optimizer.param_groups()) g.options().set_lr(lr);
    stage_for_epoch(dist, data, cfg, epoch, epoch == first_epoch);
    model->train();
    BatchLoader& loader = *data.train_loader;
    loader.start_epoch(epoch, state.step_in_epoch);
    Totals tot;
    Progress progress(fmt::format("epoch {}/{}", epoch + 1, cfg.epochs),
                      (loader.batches_per_epoch() - state.step_in_epoch) * cfg.batch_size * dist.world(),
                      "img", rank0);
    while (auto batch = loader.next()) {
      TensorBatch tb = to_tensors(std::move(*batch));
      torch::Tensor images = tb.images.to(device), labels = tb.labels.to(device);
      auto n = static_cast<double>(labels.size(0));
      dist.set_step(state.global_step);
      optimizer.zero_grad();
      if (sync) sync->begin_step();
      ModelOutput out = model->forward(images);
      LossParts loss = compute_loss(out, labels, cfg.lambda_value);
      loss.total.backward();
      if (sync) sync->finish_step();
      optimizer.step();
      ++state.global_step;
      ++state.step_in_epoch;
      tot.loss += loss.total.item<double>() * n;
      tot.nll += loss.nll.item<double>() * n;
      tot.attn += loss.attn.item<double>() * n;
      tot.correct += static_cast<double>(out.logits.argmax(1).eq(labels).sum().item<int64_t>());
      tot.count += n;
      progress.advance(static_cast<int64_t>(n) * dist.world(),
                       fmt::format("loss {:.4f} acc {:.4f}", tot.loss / tot.count, tot.correct / tot.count));
      int sig = stop_requested();
      if (dist.any(sig != 0, "stop check")) {
        progress.finish();
        std::string path = checkpoint_path(cfg.output_dir, state.epoch, state.step_in_epoch);
        save_synced(dist, path, *model, optimizer, state, cfg);
        result.stopped_by = sig != 0 ? sig : 15;
        if (rank0)
          spdlog::warn("stopped by {} after epoch {} step {}: checkpoint {} written; continue with "
                       "--resume true (exit status {})",
                       signal_name(sig), epoch + 1, state.step_in_epoch, path, kExitRequeue);
        return result;
      }
    }
    progress.finish();
    double train_s = progress.elapsed_s();
    double sums[5] = {tot.loss, tot.nll, tot.attn, tot.correct, tot.count};
    dist.sum(sums, 5, "epoch metrics");
    Totals all{sums[0], sums[1], sums[2], sums[3], sums[4]};
    train_seconds_total += train_s;
    train_samples_total += all.count;
    state.step_in_epoch = 0;
    state.epoch = epoch + 1;

    EvalResult ev = evaluate_all(dist, model, *data.val_loader, cfg, device);
    if (ev.acc() > state.best_val_acc) {
      state.best_val_acc = ev.acc();
      state.best_epoch = epoch + 1;
    }
    if (rank0) {
      append_jsonl(cfg.output_dir + "/metrics.jsonl",
                   epoch_record(epoch + 1, lr, all.loss / all.count, all.nll / all.count,
                                all.attn / all.count, all.correct / all.count, ev, cfg.use_slot,
                                all.count / train_s, train_s, sync ? sync->stats() : GradSyncStats{}));
      spdlog::info("epoch {}/{}: train loss {:.4f} (nll {:.4f} attn {:.4f}) acc {:.4f} | val loss "
                   "{:.4f} acc {:.4f} ({}/{}){} | {:.0f} img/s, lr {:.2g}",
                   epoch + 1, cfg.epochs, all.loss / all.count, all.nll / all.count,
                   all.attn / all.count, all.correct / all.count, ev.loss(), ev.acc(), ev.correct,
                   ev.count, cfg.use_slot ? fmt::format(" area {:.4f}", ev.area()) : std::string(),
                   all.count / train_s, lr);
    }
    if (sync) sync->reset_stats();
    save_synced(dist, checkpoint_path(cfg.output_dir, state.epoch), *model, optimizer, state, cfg);
    result.final_val_acc = ev.acc();
    result.final_val_area = ev.area();
    ++result.epochs_run;
  }

  if (result.epochs_run == 0) {
    // Resumed at the last epoch boundary without a summary: evaluate once for the record.
    EvalResult ev = evaluate_all(dist, model, *data.val_loader, cfg, device);
    result.final_val_acc = ev.acc();
    result.final_val_area = ev.area();
  }
  result.best_val_acc = state.best_val_acc;
  result.best_epoch = state.best_epoch;
  result.train_images_per_s = train_seconds_total > 0 ? train_samples_total / train_seconds_total : 0;
  result.total_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  dist.agree("finishing the run", [&] {
    if (!rank0) return;
    if (cfg.vis) {
      RunData all_val = open_run_data(cfg, false);
      write_attention_pictures(cfg, model, all_val);
    }
    write_text_file_atomic(cfg.output_dir + "/summary.json",
                           summary_json(cfg, result, started, dist.world()).dump(2) + "\n");
    spdlog::info("run {} done: val acc {:.4f} (best {:.4f} at epoch {}){} in {}", cfg.output_dir,
                 result.final_val_acc, result.best_val_acc, result.best_epoch,
                 cfg.use_slot ? fmt::format(", area {:.4f}", result.final_val_area) : std::string(),
                 format_duration(result.total_seconds));
  });
  return result;
}

}  // namespace scouter
