// `scouter bench`: training-step speed (forward + backward + AdamW) on synthetic batches for the
// quickstart configuration and for the published MNIST model (resnet18, 1 x 260 x 260, batch 8),
// so speed claims come from one command whose output can be quoted.
#pragma once

#include <string>
#include <vector>

namespace scouter {

struct BenchResult {
  std::string name;
  int64_t batch = 0;
  double step_ms = 0;       // median over the timed steps
  double images_per_s = 0;  // batch / median step time
};

struct BenchOptions {
  int64_t steps = 20;      // timed steps per case (after 3 warm-up steps)
  int64_t threads = 0;     // 0: all cores this process may use
  std::string filter;      // run only cases whose name contains this
};

std::vector<BenchResult> run_bench(const BenchOptions& opt);
std::string bench_table(const std::vector<BenchResult>& results);

}  // namespace scouter
