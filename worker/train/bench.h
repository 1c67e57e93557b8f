// `scouter bench`: training-step speed (forward + backward + AdamW) on synthetic batches for the
// quickstart configuration, the published MNIST model (resnet18, 1 x 260 x 260, batch 8) and the
// published ImageNet backbone (resnest26d, 3 x 260 x 260, batch 8), so speed claims come from one
// command whose output can be quoted. --precision runs the cases as training would with that
// precision (bf16 on the CPU: autocast and channels_last, step_runner.h). Under mpirun with
// --scaling true each rank trains on its own batch with gradients averaged over MPI, with and
// without overlap, and rank 0 reports throughput and time spent waiting for communication
// (scripts/bench_scaling.sh runs 1 and 2 ranks and computes the weak-scaling efficiency).
// --profile true also says where each case's step time goes (worker/train/step_profile.h), after
// its timed steps, which run as without it.
#pragma once

#include <string>
#include <vector>

namespace scouter {

struct BenchResult {
  std::string name;
  std::string precision;  // "fp32" or "bf16", as the case ran
  int64_t batch = 0;  // per rank
  int world = 1;
  std::string sync;   // "none", "mpi overlap", "mpi after backward"
  double wait_ms = 0; // per step, rank 0's time blocked on gradient communication
  double step_ms = 0;       // median over the timed steps
  double images_per_s = 0;  // batch / median step time
  std::string profile;      // --profile true: the phase and operator tables, else empty
};

struct BenchOptions {
  int64_t steps = 20;      // timed steps per case (after 3 warm-up steps)
  int64_t threads = 0;     // 0: all cores this process may use
  std::string filter;      // run only cases whose name contains this
  bool scaling = false;    // distributed mode (under mpirun)
  std::string precision = "fp32";  // fp32, bf16 or auto (worker/run/device.h), as in training
  bool profile = false;    // phase and operator tables per case (not with scaling)
};

std::vector<BenchResult> run_bench(const BenchOptions& opt);
std::string bench_table(const std::vector<BenchResult>& results);
// For each result with a profile: "profile: CASE (PRECISION)" and its tables.
std::string bench_profiles(const std::vector<BenchResult>& results);
// "CPU bf16: native bf16: AVX512-BF16" (cpu_bf16.h), for the header of the table.
std::string bench_header();

}  // namespace scouter
