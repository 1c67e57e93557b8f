// Making every rank start from the same state: rank root's parameters, buffers and AdamW
// moments copied to all ranks (at the start of a run and after resuming from a checkpoint that
// only rank root read).
#pragma once

#include <torch/torch.h>

#include "worker/comm/reduce_backend.h"

namespace scouter {

// Copies rank root's parameters and buffers into every rank's module (same architecture).
void broadcast_module(torch::nn::Module& module, ReduceBackend& backend, int root);

// Copies rank root's buffers (BatchNorm running statistics and counters) into every rank's
// module. Each rank's running statistics follow its own batches; the published code's DDP
// (broadcast_buffers = True, its default) replaces them with rank 0's before every forward pass.
// The trainer does so before every evaluation and every checkpoint, which is where they are read:
// every rank evaluates with, and every checkpoint holds, rank 0's statistics, so a run resumed
// from a checkpoint evaluates exactly as the uninterrupted run.
void broadcast_buffers(torch::nn::Module& module, ReduceBackend& backend, int root);

// Copies rank root's AdamW state (step, exp_avg, exp_avg_sq of each parameter it has state
// for) into every rank's optimizer over the same parameters.
void broadcast_adamw_state(torch::optim::Optimizer& optimizer, ReduceBackend& backend, int root);

}  // namespace scouter
