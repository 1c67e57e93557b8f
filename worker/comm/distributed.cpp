#include "worker/comm/distributed.h"

#include <torch/torch.h>
#include <unistd.h>

#include "common/error.h"
#include "common/format.h"

namespace scouter {

bool have_nccl() {
#ifdef SCOUTER_HAVE_TORCH_NCCL
  return true;
#else
  return false;
#endif
}

bool runs_on_cuda(const Config& cfg) {
  return cfg.device == "cuda" ||
         (cfg.device == "auto" && torch::cuda::is_available() && torch::cuda::device_count() > 0);
}

Distributed::Distributed(const Config& cfg) {
  if (!MpiEnv::initialized()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    topo_.host = host;
    topo_.hosts = {topo_.host};
    topo_.node_leaders = {0};
    if (cfg.grad_sync == "mpi" || cfg.grad_sync == "nccl")
      throw UserError(str_format("grad_sync = \"{}\" needs the process to run under MPI",
                                 cfg.grad_sync),
                      "start it with mpirun or srun, or use grad_sync = \"auto\"");
    return;
  }
  topo_ = MpiEnv::get().topology();
  comm_ = std::make_shared<Communicator>(MPI_COMM_WORLD, cfg.collective_timeout);
  broadcaster_ = make_mpi_backend(comm_);
  std::string kind = cfg.grad_sync;
  if (kind == "auto") kind = topo_.world > 1 ? (runs_on_cuda(cfg) && have_nccl() ? "nccl" : "mpi") : "none";
  if (kind == "mpi") {
    backend_ = broadcaster_;
  } else if (kind == "nccl") {
    if (!runs_on_cuda(cfg))
      throw UserError("grad_sync = \"nccl\" needs CUDA tensors", "set device = \"cuda\", or use grad_sync = \"mpi\"");
#ifdef SCOUTER_HAVE_TORCH_NCCL
    backend_ = make_nccl_backend(comm_, topo_.local_rank % std::max<int>(1, static_cast<int>(torch::cuda::device_count())));
#else
    throw UserError("grad_sync = \"nccl\" but this build has no NCCL support",
                    "build against a CUDA LibTorch on a machine with NCCL (README), or use grad_sync = \"mpi\"");
#endif
  }
}

void Distributed::set_step(int64_t step) {
  if (comm_) comm_->set_step(step);
}

void Distributed::barrier(const std::string& what) {
  if (comm_) comm_->barrier(what);
}

void Distributed::sum(double* values, int64_t n, const std::string& what) {
  if (comm_ && world() > 1) comm_->allreduce(values, n, MPI_DOUBLE, MPI_SUM, what);
}

void Distributed::sum(int64_t* values, int64_t n, const std::string& what) {
  if (comm_ && world() > 1) comm_->allreduce(values, n, MPI_INT64_T, MPI_SUM, what);
}

bool Distributed::any(bool flag, const std::string& what) {
  if (!comm_ || world() == 1) return flag;
  int v = flag ? 1 : 0;
  comm_->allreduce(&v, 1, MPI_INT, MPI_MAX, what);
  return v != 0;
}

std::string Distributed::broadcast_string(const std::string& s, const std::string& what) {
  if (!comm_ || world() == 1) return s;
  int64_t n = static_cast<int64_t>(s.size());
  comm_->broadcast(&n, sizeof n, 0, what);
  std::string out = rank0() ? s : std::string(static_cast<size_t>(n), '\0');
  if (n > 0) comm_->broadcast(out.data(), n, 0, what);
  return out;
}

void Distributed::agree(const std::string& what, const std::function<void()>& fn) {
  std::exception_ptr error;
  int code = 0;
  try {
    fn();
  } catch (const UserError&) {
    error = std::current_exception();
    code = kExitUsage;
  } catch (...) {
    error = std::current_exception();
    code = kExitFailure;
  }
  if (!comm_ || world() == 1) {
    if (error) std::rethrow_exception(error);
    return;
  }
  int worst = code;
  comm_->allreduce(&worst, 1, MPI_INT, MPI_MAX, what);
  if (error) std::rethrow_exception(error);
  if (worst != 0)
    throw PeerFailed(worst, str_format("another rank failed during {} (its log says why)", what));
}

}  // namespace scouter
