#include "worker/run/device.h"

#include <sched.h>

#include <algorithm>

#include "common/error.h"
#include "common/log.h"
#include "worker/comm/distributed.h"

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
  if (cfg.device == "auto" && !runs_on_cuda(cfg)) {
    if (topo.rank == 0)
      log::warn("device = \"auto\": this LibTorch has no CUDA or sees no GPU; running on the CPU");
    return torch::kCPU;
  }
  if (!torch::cuda::is_available())
    throw UserError("device = \"cuda\" but this LibTorch has no CUDA (or no GPU is visible)",
                    "use device = \"cpu\", or build against a CUDA LibTorch (README)");
  // One GPU per rank of a node: the local rank's.
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(
                                         topo.local_rank % static_cast<int>(torch::cuda::device_count())));
}

}  // namespace scouter
