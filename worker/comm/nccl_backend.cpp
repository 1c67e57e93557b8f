// ReduceBackend over NCCL for CUDA tensors, on the current (compute) stream: the allreduce is
// ordered after the kernels that produced the gradients without any host synchronisation;
// wait() only guards the deadline. Built only against a CUDA LibTorch.
#include <c10/cuda/CUDAStream.h>

#include <map>

#include "common/error.h"
#include "common/format.h"
#include "worker/comm/nccl_comm.h"
#include "worker/comm/reduce_backend.h"

namespace scouter {
namespace {

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return ncclFloat32;
    case torch::kDouble: return ncclFloat64;
    case torch::kHalf: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kLong: return ncclInt64;
    case torch::kInt: return ncclInt32;
    case torch::kByte: return ncclUint8;
    default:
      throw Error(str_format("NCCL backend: no NCCL type for {}", c10::toString(t.scalar_type())));
  }
}

class NcclBackend : public ReduceBackend {
 public:
  NcclBackend(std::shared_ptr<Communicator> mpi, int device)
      : mpi_(std::move(mpi)), nccl_(*mpi_, device) {}
  std::string name() const override { return "nccl"; }
  int world() const override { return nccl_.size(); }

  void start(size_t id, torch::Tensor flat, const std::string& what) override {
    SCOUTER_CHECK(flat.is_cuda() && flat.is_contiguous(), "NCCL buckets must be contiguous CUDA tensors");
    auto stream = c10::cuda::getCurrentCUDAStream(flat.device().index());
    nccl_.allreduce_sum(flat.data_ptr(), static_cast<size_t>(flat.numel()), nccl_type(flat), stream.stream());
    pending_[id] = {what, stream.stream()};
  }
  void progress() override {}
  bool completes_on_stream() const override { return true; }
  void fence(const std::string& what) override {
    nccl_.fence(c10::cuda::getCurrentCUDAStream().stream(), what);
  }
  void wait(size_t id) override {
    auto it = pending_.find(id);
    SCOUTER_CHECK(it != pending_.end(), "wait() for a reduction never started");
    nccl_.wait(it->second.second, it->second.first);
    pending_.erase(it);
  }
  void broadcast(torch::Tensor t, int root, const std::string& what) override {
    SCOUTER_CHECK(t.is_contiguous(), "NCCL broadcast needs a contiguous tensor");
    torch::Tensor dev = t.is_cuda() ? t : t.to(torch::Device(torch::kCUDA, c10::cuda::current_device()));
    auto stream = c10::cuda::getCurrentCUDAStream(dev.device().index());
    nccl_.broadcast(dev.data_ptr(), static_cast<size_t>(dev.numel()), nccl_type(dev), root, stream.stream());
    nccl_.wait(stream.stream(), what);
    if (!dev.is_same(t)) t.copy_(dev);
  }
  void min_max(torch::Tensor& mins, torch::Tensor& maxs, const std::string& what) override {
    mpi_->allreduce(mins.data_ptr(), mins.numel(), MPI_INT32_T, MPI_MIN, what);
    mpi_->allreduce(maxs.data_ptr(), maxs.numel(), MPI_INT32_T, MPI_MAX, what);
  }

 private:
  std::shared_ptr<Communicator> mpi_;
  NcclComm nccl_;
  std::map<size_t, std::pair<std::string, cudaStream_t>> pending_;
};

}  // namespace

std::shared_ptr<ReduceBackend> make_nccl_backend(std::shared_ptr<Communicator> mpi, int device) {
  return std::make_shared<NcclBackend>(std::move(mpi), device);
}

}  // namespace scouter
