// Where a process computes: how many intra-op threads LibTorch uses and which device a rank's
// tensors live on. Training, evaluation, explanation, `scouter bench` and the launcher's thread
// sharing all read the same rules from here.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "common/config.h"
#include "common/mpi_env.h"

namespace scouter {

// Intra-op threads to use: `requested`, or the cores this process may run on when 0.
int64_t resolve_threads(int64_t requested);
// Sets LibTorch's intra-op threads (the VM default is 1) and returns the count.
int64_t configure_threads(int64_t requested);
// cfg.device as a torch device: CPU, or the local rank's GPU (UserError without CUDA for "cuda";
// "auto" falls back to the CPU with one warning line from rank 0).
torch::Device pick_device(const Config& cfg, const Topology& topo);

// The arithmetic a run's training steps use, from cfg.precision and the device: "fp32" and "bf16"
// as said; "auto" is bf16 where the device does bf16 matrix work in hardware (a CPU with
// AVX512-BF16 or AMX-BF16 that ONEDNN_MAX_CPU_ISA does not cap: cpu_bf16.h; a GPU of compute
// capability 8.0 or later) and fp32 elsewhere. Each rank decides for its own device.
struct PrecisionChoice {
  bool bf16 = false;
  std::string why;  // "precision = auto: native bf16: AVX512-BF16", "precision = fp32", ...
  std::string name() const { return bf16 ? "bf16" : "fp32"; }
};
PrecisionChoice pick_precision(const std::string& precision, torch::Device device);
// The rule itself: `hardware_bf16` whether the device has it, `hardware` its description.
PrecisionChoice pick_precision(const std::string& precision, bool hardware_bf16, const std::string& hardware);

}  // namespace scouter
