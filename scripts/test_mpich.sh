#!/usr/bin/env bash
# The tests against MPICH (docs/testing.md, "Against MPICH"): installs Debian's MPICH beside Open
# MPI (the default mpicc/mpirun stay Open MPI's), builds against it into build-mpich (BUILD_DIR
# to change) only what those tests need, and runs the CTest entries labelled `mpich`: mpi_tests
# under MPICH's mpiexec with 1 and 2 ranks, a stopped rank named on timeout, and a local sweep of
# a 2-rank training run through the launcher command chosen for MPICH.
#   scripts/test_mpich.sh [ctest options, e.g. -R mpi_tests_np2]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --mpich
BUILD_DIR=${BUILD_DIR:-build-mpich}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DMPI_C_COMPILER=mpicc.mpich \
      -DMPIEXEC_EXECUTABLE=/usr/bin/mpiexec.mpich
cmake --build "$BUILD_DIR" -j "$(nproc)" --target mpi_tests scouter make_toy_data
cd "$BUILD_DIR"
ctest --output-on-failure -L mpich --timeout 900 "$@"
