// Runs under mpirun (one node, or 2 nodes x 2 ranks on the local multi-node cluster): every rank
// gets a lifeline to rank 0, and a rank that ends in order (its Lifelines destroyed: it says
// goodbye) is not reported as lost. A killed rank's closed lifeline is reported: the tests
// DistributedTest.KilledRankEnds... and multinode_node_loss kill real processes.
#include "common/lifeline.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

namespace scouter {
namespace {

TEST(Lifelines, EveryRankIsLinkedAndAnOrderlyEndIsNotALoss) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  auto lines = std::make_unique<Lifelines>(MPI_COMM_WORLD);
  if (rank == 0) EXPECT_TRUE(lines->unlinked().empty()) << lines->unlinked().size() << " ranks unlinked";
  MPI_Barrier(MPI_COMM_WORLD);
  // The odd ranks end in order.
  if (rank % 2 == 1) lines.reset();
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    std::vector<int> gone = lines->poll(300);
    for (int r : lines->poll(100)) gone.push_back(r);
    EXPECT_TRUE(gone.empty()) << gone.size() << " ranks reported lost after an orderly end";
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace scouter
