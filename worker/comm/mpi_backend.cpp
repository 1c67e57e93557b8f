// ReduceBackend over MPI: non-blocking allreduce of CPU buckets through the timed Communicator.
// CUDA tensors go through a host copy (this path is for CPU clusters and for testing several
// ranks on one GPU, where NCCL refuses to run).

#include <map>

#include "common/error.h"
#include "common/format.h"
#include "worker/comm/reduce_backend.h"

namespace scouter {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kLong: return MPI_INT64_T;
    case torch::kInt: return MPI_INT32_T;
    case torch::kByte: return MPI_UINT8_T;
    default:
      throw Error(str_format("MPI backend: no MPI type for {}", c10::toString(t.scalar_type())));
  }
}

class MpiBackend : public ReduceBackend {
 public:
  explicit MpiBackend(std::shared_ptr<Communicator> comm) : comm_(std::move(comm)) {}
  std::string name() const override { return "mpi"; }
  int world() const override { return comm_->size(); }

  void start(size_t id, torch::Tensor flat, const std::string& what) override {
    Op& op = ops_[id];
    op.device = flat;
    op.host = flat.is_cuda() ? flat.to(torch::kCPU) : flat;
    SCOUTER_CHECK(op.host.is_contiguous(), "MPI backend needs contiguous buckets");
    op.pending = comm_->start_allreduce(op.host.data_ptr(), op.host.numel(), mpi_type(op.host),
                                        MPI_SUM, what);
  }

  void progress() override {
    for (auto& [id, op] : ops_) comm_->test(op.pending);
  }

  void wait(size_t id) override {
    auto it = ops_.find(id);
    SCOUTER_CHECK(it != ops_.end(), "wait() for a reduction never started");
    comm_->wait(it->second.pending);
    if (it->second.device.is_cuda()) it->second.device.copy_(it->second.host);
    ops_.erase(it);
  }

  void broadcast(torch::Tensor t, int root, const std::string& what) override {
    torch::Tensor host = t.is_cuda() ? t.to(torch::kCPU) : t.contiguous();
    comm_->broadcast(host.data_ptr(), host.numel() * host.element_size(), root, what);
    if (!host.is_same(t)) t.copy_(host);
  }

  void min_max(torch::Tensor& mins, torch::Tensor& maxs, const std::string& what) override {
    comm_->allreduce(mins.data_ptr(), mins.numel(), MPI_INT32_T, MPI_MIN, what);
    comm_->allreduce(maxs.data_ptr(), maxs.numel(), MPI_INT32_T, MPI_MAX, what);
  }

 private:
  struct Op {
    torch::Tensor device, host;
    Communicator::Pending pending;
  };
  std::shared_ptr<Communicator> comm_;
  std::map<size_t, Op> ops_;
};

}  // namespace

std::shared_ptr<ReduceBackend> make_mpi_backend(std::shared_ptr<Communicator> comm) {
  return std::make_shared<MpiBackend>(std::move(comm));
}

}  // namespace scouter
