// What a training process knows about its peers, and the few collective operations the trainer
// needs beyond gradients (sums of metrics, agreement on errors and stop requests). Without MPI
// (library use, single-process tests) it is a world of one and every operation is local.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/communicator.h"
#include "common/error.h"
#include "common/config.h"
#include "common/mpi_env.h"
#include "worker/comm/reduce_backend.h"

namespace scouter {

// Thrown on the ranks that did not fail when another rank failed a step they all agreed on:
// the failing rank logs the real error; the others exit with the same status quietly.
class PeerFailed : public Error {
 public:
  PeerFailed(int exit_code, const std::string& what) : Error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Whether this build can average gradients with NCCL (a CUDA LibTorch with NCCL found).
bool have_nccl();
// Whether cfg's tensors live on a GPU: device "cuda", or "auto" where this LibTorch has CUDA and
// sees a GPU (worker/run/device.h picks which one).
bool runs_on_cuda(const Config& cfg);

class Distributed {
 public:
  // Uses MPI when MpiEnv::init has run, else a world of one.
  explicit Distributed(const Config& cfg);

  const Topology& topology() const { return topo_; }
  int rank() const { return topo_.rank; }
  int world() const { return topo_.world; }
  bool rank0() const { return topo_.rank == 0; }
  Communicator* comm() const { return comm_.get(); }
  // The gradient transport, or null when gradients need no averaging (one rank, grad_sync
  // "auto" or "none").
  std::shared_ptr<ReduceBackend> backend() const { return backend_; }
  // A backend for broadcasts even without gradient sync (null in a world of one without MPI).
  std::shared_ptr<ReduceBackend> broadcaster() const { return broadcaster_; }

  void set_step(int64_t step);
  void barrier(const std::string& what);
  // In-place sums across ranks.
  void sum(double* values, int64_t n, const std::string& what);
  void sum(int64_t* values, int64_t n, const std::string& what);
  // True on every rank if `flag` is true on any.
  bool any(bool flag, const std::string& what);
  // Rank 0's string on every rank.
  std::string broadcast_string(const std::string& s, const std::string& what);
  // Runs fn on every rank; if it throws anywhere, every rank throws: the failing rank its own
  // exception, the others PeerFailed. Use around steps whose failure would leave peers waiting.
  void agree(const std::string& what, const std::function<void()>& fn);

 private:
  Topology topo_;
  std::shared_ptr<Communicator> comm_;
  std::shared_ptr<ReduceBackend> backend_, broadcaster_;
};

}  // namespace scouter
