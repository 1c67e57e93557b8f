// Runs under mpirun (one node, or 2 nodes x 2 ranks on the local multi-node cluster): every rank
// gets a lifeline to rank 0, and rank 0 sees exactly the ones that close -- the ranks whose
// process ends -- and no others.
#include "common/lifeline.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

namespace scouter {
namespace {

TEST(Lifelines, EveryRankIsLinkedAndRankZeroSeesExactlyTheClosedOnes) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  auto lines = std::make_unique<Lifelines>(MPI_COMM_WORLD);
  if (rank == 0) EXPECT_TRUE(lines->unlinked().empty()) << lines->unlinked().size() << " ranks unlinked";
  MPI_Barrier(MPI_COMM_WORLD);
  // The odd ranks close theirs (what the kernel does when their process ends).
  if (rank % 2 == 1) lines.reset();
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    std::vector<int> gone, expected;
    for (int r = 1; r < size; r += 2) expected.push_back(r);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (gone.size() < expected.size() && std::chrono::steady_clock::now() < deadline)
      for (int r : lines->poll(20)) gone.push_back(r);
    for (int r : lines->poll(200)) gone.push_back(r);  // and nothing from the even ranks
    std::sort(gone.begin(), gone.end());
    EXPECT_EQ(gone, expected);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace scouter
