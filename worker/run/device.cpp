#include "worker/run/device.h"

#include <sched.h>

#include <algorithm>

#ifdef SCOUTER_HAVE_NCCL
#include <cuda_runtime_api.h>
#endif

#include "common/error.h"
#include "common/log.h"
#include "worker/comm/distributed.h"
#include "worker/run/cpu_bf16.h"

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

namespace {

// Whether a GPU does bf16 in hardware (compute capability 8.0, Ampere, or later). Builds without
// the CUDA runtime's headers cannot ask and answer yes: every GPU this project was measured on is
// one (docs/gpu.md).
std::pair<bool, std::string> cuda_bf16(torch::Device device) {
#ifdef SCOUTER_HAVE_NCCL
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device.index()) == cudaSuccess &&
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device.index()) == cudaSuccess)
    return {major >= 8, "GPU of compute capability " + std::to_string(major) + "." + std::to_string(minor)};
#endif
  (void)device;
  return {true, "GPU (compute capability not checked in this build)"};
}

}  // namespace

PrecisionChoice pick_precision(const std::string& precision, bool hardware_bf16, const std::string& hardware) {
  PrecisionChoice c;
  if (precision == "auto") {
    c.bf16 = hardware_bf16;
    c.why = "precision = auto: " + hardware;
    return c;
  }
  if (precision != "fp32" && precision != "bf16")
    throw UserError("precision = \"" + precision + "\" is not a precision", "valid: fp32, bf16, auto");
  c.bf16 = precision == "bf16";
  c.why = "precision = " + precision;
  if (c.bf16 && !hardware_bf16) c.why += " (" + hardware + ")";
  return c;
}

PrecisionChoice pick_precision(const std::string& precision, torch::Device device) {
  if (device.is_cuda()) {
    auto [bf16, what] = cuda_bf16(device);
    return pick_precision(precision, bf16, what);
  }
  CpuBf16 cpu = detect_cpu_bf16();
  PrecisionChoice c = pick_precision(precision, cpu.native(), cpu.describe());
  if (c.bf16 && !cpu.breaks_bf16.empty())
    throw UserError("precision = bf16 cannot run on this CPU with " + cpu.breaks_bf16 +
                        ": LibTorch sends bf16 convolutions to oneDNN on a CPU with AVX-512, and "
                        "oneDNN has none below AVX512_CORE",
                    "use precision = fp32 or auto, or unset the cap (or set it to AVX512_CORE or above)");
  return c;
}

}  // namespace scouter
