#include "worker/train/bench.h"

#include <algorithm>
#include <chrono>

#include "common/config.h"
#include "common/communicator.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "worker/comm/flat_params.h"
#include "worker/comm/grad_sync.h"
#include "worker/model/scouter_model.h"
#include "worker/run/cpu_bf16.h"
#include "worker/run/device.h"
#include "worker/train/step_profile.h"
#include "worker/train/flat_adamw.h"
#include "worker/train/step_runner.h"

namespace scouter {
namespace {

struct BenchCase {
  std::string name;
  Config cfg;
  int64_t in_chans, img;
};

std::vector<BenchCase> cases() {
  std::vector<BenchCase> v;
  // Quickstart (experiments/fashion_mnist.toml): smallcnn on 28-px Fashion-MNIST, batch 64.
  Config q;
  q.model = "smallcnn";
  q.batch_size = 64;
  q.img_size = 28;
  q.num_classes = 10;
  q.use_slot = false;
  v.push_back({"quickstart FC smallcnn 1x28x28", q, 1, 28});
  q.use_slot = true;
  q.slots_per_class = 1;
  q.to_k_layer = 1;
  q.power = 1;
  q.lambda_value = 1;
  v.push_back({"quickstart SCOUTER+ smallcnn 1x28x28", q, 1, 28});
  q.loss_status = -1;
  q.slots_per_class = 2;
  q.power = 2;
  q.lambda_value = 1.5;
  v.push_back({"quickstart SCOUTER- smallcnn 1x28x28", q, 1, 28});
  // The published MNIST SCOUTER+ model (docs/model.md, "Published settings") at batch 8, as
  // scripts/bench_cpu.sh runs it beside the authors' code.
  Config m;
  m.model = "resnet18";
  m.batch_size = 8;
  m.img_size = 260;
  m.use_slot = true;
  m.slots_per_class = 1;
  m.power = 1;
  m.to_k_layer = 1;
  m.lambda_value = 1;
  v.push_back({"MNIST SCOUTER+ resnet18 1x260x260", m, 1, 260});
  m.use_slot = false;
  v.push_back({"MNIST FC resnet18 1x260x260", m, 1, 260});
  // The published ImageNet model's backbone (experiments/imagenet.toml) with its SCOUTER+ head
  // for 10 classes, at the CPU-sized batch of the MNIST cases.
  Config r = m;
  r.model = "resnest26d";
  r.use_slot = true;
  v.push_back({"ImageNet SCOUTER+ resnest26d 3x260x260", r, 3, 260});
  return v;
}

// backend null: no gradient averaging (a single process). profile: the step profile's tables
// too, measured after the timed steps.
BenchResult time_case(const BenchCase& c, int64_t steps, const PrecisionChoice& precision,
                      std::shared_ptr<ReduceBackend> backend = nullptr, bool overlap = true,
                      bool profile = false) {
  int rank = backend ? (MpiEnv::initialized() ? MpiEnv::get().topology().rank : 0) : 0;
  torch::manual_seed(0);
  ScouterModel model(c.cfg, c.in_chans);
  model->train();
  // As training sets the step up on the CPU (StepRunner with StepOptions::for_device): layout,
  // and the optimizer (flat parameters and FlatAdamW's fused loop in bf16, LibTorch's AdamW
  // otherwise).
  const StepOptions setup = StepOptions::for_device(torch::kCPU, precision.bf16);
  const bool channels_last = setup.channels_last, flat = setup.flat;
  model->set_bf16(precision.bf16);
  if (channels_last) to_channels_last(model);
  auto params = trained_parameters(model, flat);
  std::unique_ptr<FlatParams> flat_params;
  std::unique_ptr<FlatAdamW> flat_opt;
  std::unique_ptr<torch::optim::AdamW> adamw;
  StepOptimizer opt;
  if (flat) {
    flat_params = std::make_unique<FlatParams>(params);
    flat_opt = std::make_unique<FlatAdamW>(*flat_params, c.cfg.lr, c.cfg.weight_decay);
    opt.zero_grad = [&] { flat_params->zero_grad(); };
    opt.step = [&] { flat_opt->step(); };
  } else {
    std::vector<torch::Tensor> tensors;
    for (const auto& [name, p] : params) tensors.push_back(p);
    adamw = std::make_unique<torch::optim::AdamW>(
        tensors, torch::optim::AdamWOptions(c.cfg.lr).weight_decay(c.cfg.weight_decay));
    opt.zero_grad = [&] { adamw->zero_grad(); };
    opt.step = [&] { adamw->step(); };
  }
  torch::manual_seed(100 + rank);  // each rank its own batch
  auto x = torch::randn({c.cfg.batch_size, c.in_chans, c.img, c.img});
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  auto y = torch::randint(0, c.cfg.num_classes, {c.cfg.batch_size}, torch::kLong);
  std::unique_ptr<GradSync> sync;
  if (backend) {
    const auto bucket_bytes = static_cast<int64_t>(c.cfg.bucket_mb * 1e6);
    sync = flat_params ? std::make_unique<GradSync>(*flat_params, backend, bucket_bytes, overlap)
                       : std::make_unique<GradSync>(params, backend, bucket_bytes, overlap);
  }
  auto step = [&] {
    if (!(sync && flat_params)) opt.zero_grad();  // flat GradSync zeroes in begin_step
    if (sync) sync->begin_step();
    auto out = model->forward(x);
    compute_loss(out, y, c.cfg.lambda_value).total.backward();
    if (sync) sync->finish_step();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  if (sync) sync->reset_stats();
  std::vector<double> ms;
  for (int64_t i = 0; i < steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  BenchResult r;
  r.name = c.name;
  r.precision = precision.name();
  r.batch = c.cfg.batch_size;
  r.step_ms = ms[ms.size() / 2];
  r.world = backend ? backend->world() : 1;
  r.images_per_s = r.world * r.batch / (r.step_ms / 1000.0);
  r.sync = backend ? (overlap ? "mpi, overlapped" : "mpi, after backward") : "none";
  if (sync) r.wait_ms = 1000.0 * sync->stats().wait_s / static_cast<double>(sync->stats().steps);
  if (profile)
    r.profile = step_profile_tables(profile_step(*model, opt, x, y, c.cfg.lambda_value, steps, step));
  return r;
}

}  // namespace

std::vector<BenchResult> run_bench(const BenchOptions& opt) {
  int64_t threads = configure_threads(opt.threads);
  const PrecisionChoice precision = pick_precision(opt.precision, torch::kCPU);
  if (opt.scaling) {
    const Topology& topo = MpiEnv::init(nullptr, nullptr).topology();
    init_logging(topo.rank);
    auto comm = std::make_shared<Communicator>(MPI_COMM_WORLD, 600.0);
    auto backend = make_mpi_backend(comm);
    std::vector<BenchResult> out;
    for (const auto& c : cases()) {
      if (!opt.filter.empty() && c.name.find(opt.filter) == std::string::npos) continue;
      int64_t steps = c.img > 100 ? std::max<int64_t>(3, opt.steps / 4) : opt.steps;
      if (topo.world == 1) {
        out.push_back(time_case(c, steps, precision));
        // The same with the communicator in place (a world of one): its own overhead.
        out.push_back(time_case(c, steps, precision, backend, true));
      } else {
        out.push_back(time_case(c, steps, precision, backend, true));
        out.push_back(time_case(c, steps, precision, backend, false));
      }
      log::info("bench: {} on {} rank(s): {:.1f} ms/step, {:.1f} img/s", c.name, topo.world,
                out.back().step_ms, out.back().images_per_s);
    }
    return out;
  }
  log::info("bench: {} threads, {} timed steps per case (median reported), {}", threads, opt.steps,
            precision.why);
  std::vector<BenchResult> out;
  for (const auto& c : cases()) {
    if (!opt.filter.empty() && c.name.find(opt.filter) == std::string::npos) continue;
    // The 260-px model is ~100x heavier per image: fewer steps keep the bench short.
    int64_t steps = c.img > 100 ? std::max<int64_t>(3, opt.steps / 4) : opt.steps;
    out.push_back(time_case(c, steps, precision, nullptr, true, opt.profile));
    log::info("bench: {}: {:.1f} ms/step, {:.1f} img/s", out.back().name, out.back().step_ms,
              out.back().images_per_s);
  }
  return out;
}

std::string bench_profiles(const std::vector<BenchResult>& results) {
  std::string s;
  for (const auto& r : results)
    if (!r.profile.empty()) s += str_format("\nprofile: {} ({})\n\n{}", r.name, r.precision, r.profile);
  return s;
}

std::string bench_header() { return "CPU bf16: " + detect_cpu_bf16().describe() + "\n"; }

std::string bench_table(const std::vector<BenchResult>& results) {
  std::string s =
      "| case | precision | ranks | batch/rank | gradient sync | step ms | images/s | comm wait ms/step |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& r : results)
    s += str_format("| {} | {} | {} | {} | {} | {:.1f} | {:.1f} | {:.2f} |\n", r.name, r.precision,
                    r.world, r.batch, r.sync, r.step_ms, r.images_per_s, r.wait_ms);
  return s;
}

}  // namespace scouter
