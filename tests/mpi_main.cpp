// main() of the test executables that run under mpirun: MPI up before the tests, down after,
// and only rank 0 prints GoogleTest's report (a failure on any rank fails the job's exit code).
#include <gtest/gtest.h>

#include "common/log.h"
#include "common/mpi_env.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  scouter::MpiEnv& env = scouter::MpiEnv::init(&argc, &argv);
  scouter::init_logging(env.topology().rank, "warn");
  if (env.topology().rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any;
}
