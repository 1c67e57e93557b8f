// Where a process computes: how many intra-op threads LibTorch uses and which device a rank's
// tensors live on. Training, evaluation, explanation, `scouter bench` and the launcher's thread
// sharing all read the same rules from here.
#pragma once

#include <torch/torch.h>

#include <cstdint>

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

}  // namespace scouter
