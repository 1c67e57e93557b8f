#include "worker/trainer.h"

#include <fmt/format.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/metrics_log.h"
#include "common/progress.h"
#include "common/version.h"
#include "worker/checkpoint.h"
#include "worker/data.h"
#include "worker/evaluate.h"
#include "worker/scouter_model.h"
#include "worker/tensor_batch.h"
#include "worker/vis.h"

namespace fs = std::filesystem;

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

namespace {

// StepLR(step_size = lr_drop, gamma = 0.1) as a function of the epoch: resumable by construction.
double lr_at_epoch(const Config& cfg, int64_t epoch) {
  return cfg.lr * std::pow(0.1, static_cast<double>(epoch / cfg.lr_drop));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

// Refuses to overwrite a previous run unless asked to resume it.
void check_output_dir(const Config& cfg) {
  auto existing = list_checkpoints(cfg.output_dir);
  bool has_summary = file_exists(cfg.output_dir + "/summary.json");
  if (!cfg.resume && (!existing.empty() || has_summary))
    throw UserError(fmt::format("output_dir '{}' already holds a run ({} checkpoints{})",
                                cfg.output_dir, existing.size(),
                                has_summary ? ", finished" : ""),
                    "pass --resume true to continue it, or choose another output_dir");
}

struct EpochTotals {
  double loss = 0, nll = 0, attn = 0;
  int64_t correct = 0, count = 0;
};

nlohmann::json summary_json(const Config& cfg, const TrainResult& r, const std::string& started) {
  return {{"complete", true},
          {"output_dir", cfg.output_dir},
          {"dataset", cfg.dataset},
          {"model", cfg.model},
          {"use_slot", cfg.use_slot},
          {"loss_status", cfg.loss_status},
          {"lambda_value", cfg.lambda_value},
          {"slots_per_class", cfg.slots_per_class},
          {"power", cfg.power},
          {"num_classes", cfg.num_classes},
          {"seed", cfg.seed},
          {"epochs", cfg.epochs},
          {"final_val_acc", r.final_val_acc},
          {"best_val_acc", r.best_val_acc},
          {"best_epoch", r.best_epoch},
          {"final_val_area", cfg.use_slot ? nlohmann::json(r.final_val_area) : nlohmann::json()},
          {"train_images_per_s", r.train_images_per_s},
          {"total_seconds", r.total_seconds},
          {"started", started},
          {"version", fmt::format("{} ({})", SCOUTER_VERSION, SCOUTER_GIT_VERSION)}};
}

std::string now_iso() {
  auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TrainResult result_from_summary(const std::string& path) {
  auto j = nlohmann::json::parse(read_text_file(path), nullptr, false);
  TrainResult r;
  r.already_complete = true;
  if (j.is_discarded()) return r;
  r.final_val_acc = j.value("final_val_acc", 0.0);
  r.best_val_acc = j.value("best_val_acc", 0.0);
  r.best_epoch = j.value("best_epoch", int64_t{-1});
  if (j.contains("final_val_area") && j["final_val_area"].is_number())
    r.final_val_area = j["final_val_area"].get<double>();
  r.train_images_per_s = j.value("train_images_per_s", 0.0);
  r.total_seconds = j.value("total_seconds", 0.0);
  return r;
}

}  // namespace

TrainResult train_run(const Config& cfg, const Origins& origins) {
  validate(cfg, origins);
  auto t_start = std::chrono::steady_clock::now();
  std::string started = now_iso();
  int64_t threads = configure_threads(cfg.threads);
  ensure_dir(cfg.output_dir);
  check_output_dir(cfg);

  std::string resume_from = cfg.resume ? latest_checkpoint(cfg.output_dir) : std::string();
  if (!resume_from.empty()) {
    CheckpointInfo info = read_checkpoint_info(resume_from);
    std::string summary = cfg.output_dir + "/summary.json";
    if (info.state.epoch >= cfg.epochs && info.state.step_in_epoch == 0 && file_exists(summary)) {
      spdlog::info("run {} is already complete ({} epochs); nothing to do", cfg.output_dir,
                   info.state.epoch);
      return result_from_summary(summary);
    }
  } else if (cfg.resume) {
    spdlog::info("resume: no checkpoint in {}; starting from scratch", cfg.output_dir);
  }
  write_text_file_atomic(cfg.output_dir + "/config.toml", to_toml(cfg));

  RunData data = open_run_data(cfg);
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  ScouterModel model(cfg, data.in_chans);
  if (cfg.use_pre && resume_from.empty()) {
    load_backbone_weights(cfg.pre_checkpoint, *model);
  }
  if (cfg.use_pre) {
    int64_t frozen = freeze_backbone(*model->backbone, cfg.freeze_layers);
    spdlog::info("freeze_layers = {}: {} backbone tensors frozen", cfg.freeze_layers, frozen);
  }
  std::vector<torch::Tensor> trainable;
  int64_t n_trainable = 0, n_total = 0;
  for (auto& p : model->parameters()) {
    n_total += p.numel();
    if (p.requires_grad()) {
      trainable.push_back(p);
      n_trainable += p.numel();
    }
  }
  torch::optim::AdamW optimizer(trainable,
                                torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));

  TrainState state;
  if (!resume_from.empty()) {
    state = load_checkpoint(resume_from, *model, &optimizer, cfg).state;
    spdlog::info("resumed from {} (epoch {} done, step {})", resume_from, state.epoch,
                 state.step_in_epoch);
    truncate_jsonl_after_epoch(cfg.output_dir + "/metrics.jsonl", state.epoch);
  }

  spdlog::info("run {}: {} {} on {} ({} train / {} val samples, {} channels, img_size {}), "
               "{:.3f} M parameters ({:.3f} M trained), {} threads",
               cfg.output_dir, cfg.use_slot ? (cfg.loss_status > 0 ? "SCOUTER+" : "SCOUTER-") : "FC",
               cfg.model, cfg.dataset, data.train_loader->num_samples(),
               data.val_loader->num_samples(), data.in_chans, cfg.img_size, n_total / 1e6,
               n_trainable / 1e6, threads);

  TrainResult result;
  result.best_val_acc = state.best_val_acc;
  result.best_epoch = state.best_epoch;
  double train_seconds_total = 0;
  int64_t train_samples_total = 0;
  const bool rank0 = log_rank() == 0;

  for (int64_t epoch = state.epoch; epoch < cfg.epochs; ++epoch) {
    double lr = lr_at_epoch(cfg, epoch);
    set_lr(optimizer, lr);
    model->train();
    BatchLoader& loader = *data.train_loader;
    loader.start_epoch(epoch, state.step_in_epoch);
    EpochTotals tot;
    Progress progress(fmt::format("epoch {}/{}", epoch + 1, cfg.epochs),
                      (loader.batches_per_epoch() - state.step_in_epoch) * cfg.batch_size, "img",
                      rank0);
    while (auto batch = loader.next()) {
      TensorBatch tb = to_tensors(std::move(*batch));
      int64_t n = tb.labels.size(0);
      optimizer.zero_grad();
      ModelOutput out = model->forward(tb.images);
      LossParts loss = compute_loss(out, tb.labels, cfg.lambda_value);
      loss.total.backward();
      optimizer.step();
      ++state.global_step;
      tot.loss += loss.total.item<double>() * n;
      tot.nll += loss.nll.item<double>() * n;
      tot.attn += loss.attn.item<double>() * n;
      tot.correct += out.logits.argmax(1).eq(tb.labels).sum().item<int64_t>();
      tot.count += n;
      progress.advance(n, fmt::format("loss {:.4f} acc {:.4f}", tot.loss / tot.count,
                                      static_cast<double>(tot.correct) / tot.count));
    }
    progress.finish();
    double train_s = progress.elapsed_s();
    train_seconds_total += train_s;
    train_samples_total += tot.count;
    state.step_in_epoch = 0;
    state.epoch = epoch + 1;

    EvalResult ev = evaluate(model, *data.val_loader, cfg.lambda_value, false);
    if (ev.acc() > state.best_val_acc) {
      state.best_val_acc = ev.acc();
      state.best_epoch = epoch + 1;
    }
    nlohmann::json rec = {
        {"epoch", epoch + 1}, {"lr", lr},
        {"train_loss", tot.loss / tot.count}, {"train_nll", tot.nll / tot.count},
        {"train_attn", tot.attn / tot.count},
        {"train_acc", static_cast<double>(tot.correct) / tot.count},
        {"val_loss", ev.loss()}, {"val_nll", ev.nll()}, {"val_attn", ev.attn()},
        {"val_acc", ev.acc()}, {"val_correct", ev.correct}, {"val_count", ev.count},
        {"val_area", cfg.use_slot ? nlohmann::json(ev.area()) : nlohmann::json()},
        {"images_per_s", tot.count / train_s}, {"train_time_s", train_s},
        {"eval_time_s", ev.seconds}, {"time", now_iso()}};
    append_jsonl(cfg.output_dir + "/metrics.jsonl", rec);
    spdlog::info("epoch {}/{}: train loss {:.4f} (nll {:.4f} attn {:.4f}) acc {:.4f} | val loss "
                 "{:.4f} acc {:.4f} ({}/{}){} | {:.0f} img/s, lr {:.2g}",
                 epoch + 1, cfg.epochs, tot.loss / tot.count, tot.nll / tot.count,
                 tot.attn / tot.count, static_cast<double>(tot.correct) / tot.count, ev.loss(),
                 ev.acc(), ev.correct, ev.count,
                 cfg.use_slot ? fmt::format(" area {:.4f}", ev.area()) : std::string(),
                 tot.count / train_s, lr);

    save_checkpoint(checkpoint_path(cfg.output_dir, state.epoch), *model, &optimizer, state, cfg);
    prune_checkpoints(cfg.output_dir, cfg.keep_checkpoints);

    result.final_val_acc = ev.acc();
    result.final_val_area = ev.area();
    ++result.epochs_run;
  }

  result.best_val_acc = state.best_val_acc;
  result.best_epoch = state.best_epoch;
  result.train_images_per_s = train_seconds_total > 0 ? train_samples_total / train_seconds_total : 0;
  result.total_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (result.epochs_run == 0) {
    // Resumed at the last epoch boundary without a summary: evaluate once for the record.
    EvalResult ev = evaluate(model, *data.val_loader, cfg.lambda_value, false);
    result.final_val_acc = ev.acc();
    result.final_val_area = ev.area();
  }
  if (cfg.vis) write_attention_pictures(cfg, model, data);
  write_text_file_atomic(cfg.output_dir + "/summary.json",
                         summary_json(cfg, result, started).dump(2) + "\n");
  spdlog::info("run {} done: val acc {:.4f} (best {:.4f} at epoch {}){} in {}", cfg.output_dir,
               result.final_val_acc, result.best_val_acc, result.best_epoch,
               cfg.use_slot ? fmt::format(", area {:.4f}", result.final_val_area) : std::string(),
               format_duration(result.total_seconds));
  return result;
}

}  // namespace scouter
