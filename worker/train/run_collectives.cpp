#include "worker/train/run_collectives.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "common/log.h"
#include "datasets/staging.h"
#include "worker/run/checkpoint.h"

namespace scouter {

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
                 torch::optim::Optimizer& opt, const TrainState& state, const Config& cfg,
                 const std::vector<double>& my_sums) {
  torch::Tensor mine = cpu_rng_state().contiguous();
  std::vector<torch::Tensor> all{mine};
  if (dist.comm() && dist.world() > 1) {
    torch::Tensor gathered = torch::empty({dist.world() * mine.numel()}, torch::kUInt8);
    dist.comm()->gather(mine.data_ptr(), mine.numel(), gathered.data_ptr(), 0, "checkpoint rng gather");
    all = gathered.split(mine.numel());
  }
  std::vector<double> sums = my_sums;
  if (!my_sums.empty() && dist.comm() && dist.world() > 1) {
    sums.assign(static_cast<size_t>(dist.world()) * my_sums.size(), 0.0);
    dist.comm()->gather(my_sums.data(), static_cast<int64_t>(my_sums.size() * sizeof(double)),
                        sums.data(), 0, "checkpoint sums gather");
  }
  dist.agree("checkpoint save", [&] {
    if (dist.rank0()) save_checkpoint(path, model, &opt, state, cfg, all, sums);
  });
  if (dist.rank0()) {
    mark_complete(path);
    prune_checkpoints(cfg.output_dir, cfg.keep_checkpoints);
  }
}

// Every rank evaluates its part; the sums (not means) are added across ranks.
void sum_across_ranks(Distributed& dist, EvalResult& ev, bool use_slot) {
  double sums[4] = {ev.loss_sum, ev.nll_sum, ev.attn_sum, std::isfinite(ev.area_sum) ? ev.area_sum : 0};
  int64_t counts[2] = {ev.correct, ev.count};
  dist.sum(sums, 4, "evaluation sums");
  dist.sum(counts, 2, "evaluation counts");
  if (!ev.confusion.empty()) {
    dist.sum(ev.confusion.data(), static_cast<int64_t>(ev.confusion.size()), "confusion matrix");
    dist.sum(ev.class_nll_sum.data(), static_cast<int64_t>(ev.class_nll_sum.size()), "per-class nll");
    dist.sum(ev.class_area_sum.data(), static_cast<int64_t>(ev.class_area_sum.size()), "per-class area");
  }
  ev.loss_sum = sums[0];
  ev.nll_sum = sums[1];
  ev.attn_sum = sums[2];
  ev.area_sum = use_slot ? sums[3] : NAN;
  ev.correct = counts[0];
  ev.count = counts[1];
}

EvalResult evaluate_all(Distributed& dist, ScouterModel& model, BatchLoader& loader,
                        const Config& cfg, torch::Device device, const DeviceInput* input) {
  EvalResult ev = evaluate(model, loader, cfg.lambda_value, device, input);
  sum_across_ranks(dist, ev, cfg.use_slot);
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
      log::at(rep.files_sent > 0 || with_val ? log::Level::info : log::Level::debug,
              "staging {} (epoch {}): {} file(s), {:.1f} MB sent, {} already verified, {:.1f} s -> {}",
              split, epoch + 1, rep.files_sent, rep.bytes_sent / 1e6, rep.files_verified,
              rep.seconds, rep.local_dir);
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

}  // namespace scouter
