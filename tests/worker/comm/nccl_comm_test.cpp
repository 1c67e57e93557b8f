// The NCCL communicator on real GPUs, under mpirun: one GPU per rank (NCCL refuses two ranks on
// one GPU), so on a one-GPU machine only the 1-rank run exercises it; skipped without a GPU.
#include <gtest/gtest.h>

#ifdef SCOUTER_HAVE_NCCL
#include "common/mpi_env.h"
#include "worker/comm/nccl_comm.h"

namespace scouter {
namespace {

TEST(NcclComm, AllreduceAndBroadcastOfKnownValues) {
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0) GTEST_SKIP() << "no CUDA GPU visible";
  const Topology& topo = MpiEnv::get().topology();
  if (topo.local_size > gpus) GTEST_SKIP() << "NCCL needs one GPU per rank: " << topo.local_size << " ranks, " << gpus << " GPU(s)";
  Communicator mpi(MPI_COMM_WORLD, 60.0);
  NcclComm nccl(mpi, topo.local_rank);
  const size_t n = 1000003;
  std::vector<float> host(n);
  for (size_t i = 0; i < n; ++i) host[i] = static_cast<float>((mpi.rank() + 1) * (i % 7));
  float* dev = nullptr;
  CUDA_CHECK(cudaMalloc(&dev, n * sizeof(float)));
  CUDA_CHECK(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  nccl.allreduce_sum(dev, n, ncclFloat32, nullptr);
  nccl.wait(nullptr, "test allreduce");
  CUDA_CHECK(cudaMemcpy(host.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost));
  const int w = mpi.size();
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(host[i], static_cast<float>(w * (w + 1) / 2 * (i % 7))) << i;
  float root_value = mpi.rank() == 0 ? 42.f : -1.f;
  CUDA_CHECK(cudaMemcpy(dev, &root_value, sizeof(float), cudaMemcpyHostToDevice));
  nccl.broadcast(dev, 1, ncclFloat32, 0, nullptr);
  nccl.wait(nullptr, "test broadcast");
  CUDA_CHECK(cudaMemcpy(&root_value, dev, sizeof(float), cudaMemcpyDeviceToHost));
  EXPECT_EQ(root_value, 42.f);
  CUDA_CHECK(cudaFree(dev));
}

}  // namespace
}  // namespace scouter
#else
TEST(NcclComm, AllreduceAndBroadcastOfKnownValues) {
  GTEST_SKIP() << "built without CUDA and NCCL";
}
#endif
