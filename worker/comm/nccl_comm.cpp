#include "worker/comm/nccl_comm.h"

#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/format.h"

namespace scouter {

void cuda_fail(cudaError_t e, const char* expr, const char* file, int line) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw Error(str_format("CUDA call failed on rank {}: {} ({}:{}): {}", rank, expr, file, line,
                         cudaGetErrorString(e)));
}

void nccl_fail(ncclResult_t r, const char* expr, const char* file, int line) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw Error(str_format("NCCL call failed on rank {}: {} ({}:{}): {}", rank, expr, file, line,
                         ncclGetErrorString(r)));
}

NcclComm::NcclComm(Communicator& mpi, int device) : mpi_(mpi), device_(device) {
  rank_ = mpi.rank();
  size_ = mpi.size();
  CUDA_CHECK(cudaSetDevice(device_));
  ncclUniqueId id;
  if (rank_ == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  mpi_.broadcast(&id, sizeof id, 0, "NCCL unique id broadcast");
  NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
  for (auto& e : fence_events_) CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
}

NcclComm::~NcclComm() {
  if (event_) cudaEventDestroy(event_);
  for (auto& e : fence_events_)
    if (e) cudaEventDestroy(e);
  if (comm_ && !aborted_) ncclCommDestroy(comm_);
}

void NcclComm::allreduce_sum(void* data, size_t count, ncclDataType_t type, cudaStream_t stream) {
  NCCL_CHECK(ncclAllReduce(data, data, count, type, ncclSum, comm_, stream));
}

void NcclComm::broadcast(void* data, size_t count, ncclDataType_t type, int root,
                         cudaStream_t stream) {
  NCCL_CHECK(ncclBroadcast(data, data, count, type, root, comm_, stream));
}

void NcclComm::wait(cudaStream_t stream, const std::string& what) {
  CUDA_CHECK(cudaEventRecord(event_, stream));
  wait_event(event_, what);
}

void NcclComm::fence(cudaStream_t stream, const std::string& what) {
  cudaEvent_t previous = fence_events_[1 - fence_next_];
  if (fence_pending_) wait_event(previous, what);
  CUDA_CHECK(cudaEventRecord(fence_events_[fence_next_], stream));
  fence_pending_ = true;
  fence_next_ = 1 - fence_next_;
}

void NcclComm::wait_event(cudaEvent_t event, const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(mpi_.timeout_s());
  while (true) {
    cudaError_t q = cudaEventQuery(event);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady) CUDA_CHECK(q);
    ncclResult_t async = ncclSuccess;
    NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess) {
      ncclCommAbort(comm_);
      aborted_ = true;
      mpi_.abort(kExitLostRank, str_format("'{}' at step {}: NCCL reported {} (a peer failed)",
                                           what, mpi_.step(), ncclGetErrorString(async)));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ncclCommAbort(comm_);
      aborted_ = true;
      // The MPI side names the missing ranks: every live rank reaches this barrier's deadline.
      mpi_.barrier(what + " (NCCL timed out; finding the missing ranks)");
      mpi_.abort(kExitLostRank, str_format("'{}' at step {} timed out after {:.0f} s on NCCL",
                                           what, mpi_.step(), mpi_.timeout_s()));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace scouter
