#include "common/mpi_env.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>

#include "common/error.h"
#include "common/text.h"

namespace scouter {
namespace {
std::unique_ptr<MpiEnv> g_env;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
}  // namespace

void mpi_fail(int code, const char* expr, const char* file, int line) {
  char msg[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(code, msg, &len);
  int rank = -1;
  int init = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw Error(fmt::format("MPI call failed on rank {}: {} ({}:{}): {}", rank, expr, file, line,
                          std::string(msg, static_cast<size_t>(len))));
}

int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    auto v = parse_int(env(name));
    if (v && *v > 0) return static_cast<int>(*v);
  }
  // SLURM_NTASKS is set for the whole allocation in a batch script; only a job step (srun) has
  // SLURM_STEP_ID, and only then are those tasks this process's peers.
  if (!env("SLURM_STEP_ID").empty()) {
    auto v = parse_int(env("SLURM_STEP_NUM_TASKS"));
    if (!v) v = parse_int(env("SLURM_NTASKS"));
    if (v && *v > 0) return static_cast<int>(*v);
  }
  return 0;
}

const char* mpi_flavour() {
#if defined(OPEN_MPI)
  return "Open MPI";
#elif defined(MPICH_VERSION)
  return "MPICH";
#else
  return "MPI";
#endif
}

std::string local_mpi_launcher(int ranks) {
  std::string mpiexec = SCOUTER_MPIEXEC;  // CMake's MPIEXEC_EXECUTABLE
  if (mpiexec.empty()) mpiexec = "mpiexec";
  if (mpiexec.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+") !=
      std::string::npos)
    mpiexec = "'" + mpiexec + "'";  // a path with spaces or quotes: kept as one word
  if (std::string(mpi_flavour()) == "Open MPI")
    return fmt::format("{}{} --oversubscribe --bind-to none -np {} --map-by ppr:{}:node", mpiexec,
                       ::geteuid() == 0 ? " --allow-run-as-root" : "", ranks, ranks);
  if (std::string(mpi_flavour()) == "MPICH") return fmt::format("{} -n {} -bind-to none", mpiexec, ranks);
  return fmt::format("{} -n {}", mpiexec, ranks);
}

std::string Topology::describe() const {
  std::vector<std::string> parts;
  for (int n = 0; n < nodes; ++n) {
    std::vector<int> ranks;
    for (int r = 0; r < world; ++r)
      if (hosts[static_cast<size_t>(r)] == hosts[static_cast<size_t>(node_leaders[static_cast<size_t>(n)])]) ranks.push_back(r);
    std::string span = ranks.size() > 1 && ranks.back() - ranks.front() + 1 == static_cast<int>(ranks.size())
                           ? fmt::format("{}-{}", ranks.front(), ranks.back())
                           : join_ints(std::vector<int64_t>(ranks.begin(), ranks.end()));
    parts.push_back(fmt::format("{}: {}", hosts[static_cast<size_t>(node_leaders[static_cast<size_t>(n)])], span));
  }
  return fmt::format("{} node{} x {} rank{} ({})", nodes, nodes == 1 ? "" : "s", world,
                     world == 1 ? "" : "s", join(parts, "; "));
}

bool MpiEnv::initialized() { return g_env != nullptr; }

MpiEnv& MpiEnv::get() {
  SCOUTER_CHECK(g_env != nullptr, "MPI is not initialised (MpiEnv::init first)");
  return *g_env;
}

MpiEnv& MpiEnv::init(int* argc, char*** argv) {
  if (g_env) return *g_env;
  // srun without an MPI plugin: Open MPI would fail inside MPI_Init with its own message, so
  // say what is wrong first.
  auto step_tasks = parse_int(env("SLURM_STEP_NUM_TASKS"));
  if (!env("SLURM_STEP_ID").empty() && step_tasks && *step_tasks > 1 && env("PMIX_RANK").empty() &&
      env("PMI_RANK").empty() && env("OMPI_COMM_WORLD_RANK").empty())
    throw UserError(fmt::format("srun started {} tasks without an MPI plugin, so MPI cannot connect "
                                "them (each process would think it is alone)", *step_tasks),
                    "use `srun --mpi=pmix` (`srun --mpi=list` shows the plugins), or set "
                    "MpiDefault=pmix in slurm.conf");
  g_env.reset(new MpiEnv());
  MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &g_env->thread_level_));
  // Errors come back as codes (and become exceptions), instead of aborting inside MPI.
  MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  Topology& t = g_env->topo_;
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &t.rank));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &t.world));

  int expected = launcher_world_size();
  if (expected > 1 && t.world == 1)
    throw UserError(
        fmt::format("the launcher started {} ranks but MPI sees a world of 1 (each process "
                    "thinks it is alone)", expected),
        fmt::format("under Slurm use `srun --mpi=pmix` (`srun --mpi=list` shows the plugins), or "
                    "the mpiexec of the MPI this binary links ({}: {})", mpi_flavour(),
                    SCOUTER_MPIEXEC));

  MPI_Comm local;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, t.rank, MPI_INFO_NULL, &local));
  MPI_CHECK(MPI_Comm_rank(local, &t.local_rank));
  MPI_CHECK(MPI_Comm_size(local, &t.local_size));
  MPI_CHECK(MPI_Comm_free(&local));

  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_CHECK(MPI_Get_processor_name(name, &len));
  t.host.assign(name, static_cast<size_t>(len));
  std::vector<char> all(static_cast<size_t>(t.world) * MPI_MAX_PROCESSOR_NAME, '\0');
  std::vector<char> mine(MPI_MAX_PROCESSOR_NAME, '\0');
  std::copy(t.host.begin(), t.host.end(), mine.begin());
  MPI_CHECK(MPI_Allgather(mine.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(),
                          MPI_MAX_PROCESSOR_NAME, MPI_CHAR, MPI_COMM_WORLD));
  // Ranks sharing a host share a node; nodes are numbered by their lowest rank.
  std::map<std::string, int> node_of;
  for (int r = 0; r < t.world; ++r) {
    std::string h(&all[static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME]);
    t.hosts.push_back(h);
    if (!node_of.count(h)) {
      node_of[h] = static_cast<int>(t.node_leaders.size());
      t.node_leaders.push_back(r);
    }
  }
  t.nodes = static_cast<int>(t.node_leaders.size());
  t.node = node_of[t.host];
  return *g_env;
}

MpiEnv::~MpiEnv() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace scouter
