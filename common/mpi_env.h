// The process's MPI: initialised once (MPI_THREAD_MULTIPLE requested, since CUDA autograd runs
// hooks on its own threads), finalised at exit, and the job's topology: rank, size, the local
// rank on this node (MPI_Comm_split_type shared-memory split, which picks the GPU), node count
// and host names. Refuses the classic singleton mistake: launcher variables that say N ranks
// while MPI reports one (a binary started by srun without --mpi=pmix, or built against another MPI).
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

namespace scouter {

struct Topology {
  int rank = 0, world = 1;
  int local_rank = 0, local_size = 1;
  int node = 0, nodes = 1;           // this rank's node index (by first rank), node count
  std::string host;
  std::vector<std::string> hosts;    // per rank
  std::vector<int> node_leaders;     // lowest world rank of each node, by node index
  bool is_node_leader() const { return local_rank == 0; }
  // "2 nodes x 4 ranks (hostA: 0-3, hostB: 4-7)"
  std::string describe() const;
};

class MpiEnv {
 public:
  // Initialises MPI (once per process) and computes the topology. Throws UserError on the
  // singleton mistake.
  static MpiEnv& init(int* argc, char*** argv);
  static bool initialized();
  static MpiEnv& get();
  ~MpiEnv();

  const Topology& topology() const { return topo_; }
  int thread_level() const { return thread_level_; }

 private:
  MpiEnv() = default;
  Topology topo_;
  int thread_level_ = 0;
};

// Throws scouter::Error naming the call, file:line and MPI's error string.
[[noreturn]] void mpi_fail(int code, const char* expr, const char* file, int line);

// Ranks the launcher says this job has (OMPI_COMM_WORLD_SIZE, PMIX_SIZE, PMI_SIZE,
// SLURM_NTASKS inside a step), or 0 when none is set.
int launcher_world_size();

// The MPI this binary was compiled against, from its mpi.h: "Open MPI", "MPICH" (also MPICH's
// derivatives: Intel MPI, MVAPICH, Cray MPICH) or "MPI" (another).
const char* mpi_flavour();
// The launcher of that MPI on this machine (docs/distributed.md#mpi-implementations): the
// mpiexec CMake found with it, not whichever mpirun comes first on PATH (it may be another MPI's),
// starting `ranks` ranks here, none bound to one core (each runs its own intra-op threads), more
// ranks than cores allowed, as root too. Open MPI: `mpiexec [--allow-run-as-root] --oversubscribe
// --bind-to none -np N --map-by ppr:N:node`; MPICH's Hydra: `mpiexec -n N -bind-to none`.
std::string local_mpi_launcher(int ranks);

}  // namespace scouter

#define MPI_CHECK(expr)                                                      \
  do {                                                                       \
    int mpi_check_rc_ = (expr);                                              \
    if (mpi_check_rc_ != MPI_SUCCESS) ::scouter::mpi_fail(mpi_check_rc_, #expr, __FILE__, __LINE__); \
  } while (0)
