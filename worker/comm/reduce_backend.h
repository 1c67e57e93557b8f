// The transports that sum a flat gradient bucket across ranks: MPI (CPU tensors; CUDA tensors
// pass through host memory) and NCCL (CUDA tensors, on the compute stream). GradSync and the
// trainer see only this interface.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "common/communicator.h"

namespace scouter {

class ReduceBackend {
 public:
  virtual ~ReduceBackend() = default;
  virtual std::string name() const = 0;
  virtual int world() const = 0;
  // Starts an in-place sum of `flat` across ranks; `id` names it for wait().
  virtual void start(size_t id, torch::Tensor flat, const std::string& what) = 0;
  // Lets started reductions progress (called from backward hooks).
  virtual void progress() = 0;
  // Waits (with the collective deadline) until reduction `id` is complete.
  virtual void wait(size_t id) = 0;
  // True when a started reduction is ordered before later work on the compute stream (NCCL):
  // then nobody needs to wait() on the host, and fence() guards the deadline instead.
  virtual bool completes_on_stream() const { return false; }
  // Called once after each training step (eager or replayed graph): a backend whose reductions
  // complete on the stream checks here, without stalling the stream, that the reductions of the
  // step before completed within the deadline, and names the missing ranks if not.
  virtual void fence(const std::string& what) {}
  // Copies root's `t` into every rank's `t`, in place.
  virtual void broadcast(torch::Tensor t, int root, const std::string& what) = 0;
  // Element-wise min and max across ranks of a small int32 CPU tensor (consistency checks).
  virtual void min_max(torch::Tensor& mins, torch::Tensor& maxs, const std::string& what) = 0;
};

std::shared_ptr<ReduceBackend> make_mpi_backend(std::shared_ptr<Communicator> comm);

// Only in builds against a CUDA LibTorch with NCCL (SCOUTER_HAVE_TORCH_NCCL); device = this
// rank's CUDA device.
std::shared_ptr<ReduceBackend> make_nccl_backend(std::shared_ptr<Communicator> mpi, int device);

}  // namespace scouter
