// `scouter bench`: training-step speed (forward + backward + AdamW) on synthetic batches for the
// quickstart configuration and for the published MNIST model (resnet18, 1 x 260 x 260, batch 8),
// so speed claims come from one command whose output can be quoted. Under mpirun with
// --scaling true each rank trains on its own batch with gradients averaged over MPI, with and
// without overlap, and rank 0 reports throughput and time spent waiting for communication
// (scripts/bench_scaling.sh runs 1 and 2 ranks and computes the weak-scaling efficiency).
#pragma once

#include <string>
#include <vector>

namespace scouter {

struct BenchResult {
  std::string name;
  int64_t batch = 0;  // per rank
  int world = 1;
  std::string sync;   // "none", "mpi overlap", "mpi after backward"
  double wait_ms = 0; // per step, rank 0's time blocked on gradient communication
  double step_ms = 0;       // median over the timed steps
  double images_per_s = 0;  // batch / median step time
};

struct BenchOptions {
  int64_t steps = 20;      // timed steps per case (after 3 warm-up steps)
  int64_t threads = 0;     // 0: all cores this process may use
  std::string filter;      // run only cases whose name contains this
  bool scaling = false;    // distributed mode (under mpirun)
};

std::vector<BenchResult> run_bench(const BenchOptions& opt);
std::string bench_table(const std::vector<BenchResult>& results);

}  // namespace scouter
