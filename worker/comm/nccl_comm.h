// An NCCL communicator for gradient averaging on GPUs, bootstrapped over MPI: rank 0 creates the
// unique id and broadcasts it through the timed Communicator, every rank joins on its local
// GPU. Operations are enqueued on the caller's CUDA stream; wait() polls that stream's event
// and NCCL's asynchronous error with the collective deadline, and on expiry aborts the NCCL
// communicator and ends the job naming the step, so a lost rank never hangs the others.
// Needs only the CUDA runtime and NCCL (no LibTorch), so it builds wherever those exist.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <string>

#include "common/communicator.h"

namespace scouter {

[[noreturn]] void cuda_fail(cudaError_t e, const char* expr, const char* file, int line);
[[noreturn]] void nccl_fail(ncclResult_t r, const char* expr, const char* file, int line);

class NcclComm {
 public:
  // device: the CUDA device of this rank (its local rank's).
  NcclComm(Communicator& mpi, int device);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  void allreduce_sum(void* data, size_t count, ncclDataType_t type, cudaStream_t stream);
  void broadcast(void* data, size_t count, ncclDataType_t type, int root, cudaStream_t stream);
  // Blocks until everything enqueued on `stream` so far is done, within the deadline.
  void wait(cudaStream_t stream, const std::string& what);
  // Per-step deadline guard that never stalls the stream: records an event on `stream` and waits
  // (within the deadline) for the event the previous call recorded, so the host stays at most
  // one step ahead of the GPU and a lost rank is found within one step plus the deadline.
  void fence(cudaStream_t stream, const std::string& what);

  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  Communicator& mpi_;
  ncclComm_t comm_ = nullptr;
  void wait_event(cudaEvent_t event, const std::string& what);

  cudaEvent_t event_ = nullptr;
  cudaEvent_t fence_events_[2] = {nullptr, nullptr};
  int fence_next_ = 0;
  bool fence_pending_ = false;
  int rank_ = 0, size_ = 1, device_ = 0;
  bool aborted_ = false;
};

}  // namespace scouter

#define CUDA_CHECK(expr)                                                              \
  do {                                                                                \
    cudaError_t cuda_check_e_ = (expr);                                               \
    if (cuda_check_e_ != cudaSuccess) ::scouter::cuda_fail(cuda_check_e_, #expr, __FILE__, __LINE__); \
  } while (0)

#define NCCL_CHECK(expr)                                                              \
  do {                                                                                \
    ncclResult_t nccl_check_r_ = (expr);                                              \
    if (nccl_check_r_ != ncclSuccess) ::scouter::nccl_fail(nccl_check_r_, #expr, __FILE__, __LINE__); \
  } while (0)
