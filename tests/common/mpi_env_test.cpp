// Runs under mpirun (one node, or the local multi-node cluster): the topology MpiEnv computes
// agrees with what the launcher itself says about each process (Open MPI's or MPICH's Hydra's
// local rank and local size variables, the kernel's host name) and with the node count the
// caller expects (SCOUTER_TEST_NODES, default 1).
#include "common/mpi_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace scouter {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// The variables in which a launcher tells a process its local rank and local size.
struct LocalVariables {
  const char* launcher;
  const char* rank;
  const char* size;
};
constexpr LocalVariables kLaunchers[] = {
    {"Open MPI's mpirun", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"MPICH's Hydra", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
};

TEST(Topology, AgreesWithTheLauncher) {
  const LocalVariables* launcher = nullptr;
  for (const auto& l : kLaunchers)
    if (!launcher && std::getenv(l.rank)) launcher = &l;
  if (!launcher) GTEST_SKIP() << "not started by Open MPI's mpirun or MPICH's Hydra";
  SCOPED_TRACE(launcher->launcher);
  const Topology& t = MpiEnv::get().topology();
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(t.host, host);
  EXPECT_EQ(t.local_rank, env_int(launcher->rank, -1));
  EXPECT_EQ(t.local_size, env_int(launcher->size, -1));
  EXPECT_EQ(t.is_node_leader(), t.local_rank == 0);
  EXPECT_EQ(t.nodes, env_int("SCOUTER_TEST_NODES", 1));

  // Every rank's host name and launcher local rank: the leader of each node is the rank the
  // launcher numbered 0 there, and nodes are numbered by their leaders' order.
  struct Entry {
    char host[256];
    int local_rank;
  } mine{}, none{};
  std::copy(host, host + sizeof host, mine.host);
  mine.local_rank = t.local_rank;
  std::vector<Entry> all(static_cast<size_t>(t.world), none);
  ASSERT_EQ(MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, MPI_COMM_WORLD), MPI_SUCCESS);
  std::vector<int> leaders;
  std::map<std::string, int> node_of;
  for (int r = 0; r < t.world; ++r) {
    const Entry& e = all[static_cast<size_t>(r)];
    EXPECT_EQ(t.hosts[static_cast<size_t>(r)], e.host) << "rank " << r;
    if (e.local_rank == 0) {
      node_of[e.host] = static_cast<int>(leaders.size());
      leaders.push_back(r);
    }
  }
  EXPECT_EQ(t.node_leaders, leaders);
  EXPECT_EQ(t.node, node_of[host]);
}

}  // namespace
}  // namespace scouter
