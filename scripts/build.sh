#!/usr/bin/env bash
# Configures and builds the project (Release) into build/. Extra arguments go to `cmake --build`,
# e.g. `scripts/build.sh --target scouter`. Needs no root.
#   BUILD_DIR=DIR              build folder (default build/)
#   SCOUTER_CMAKE_ARGS="..."   extra configure options, split at spaces, e.g. on a cluster with
#                              modules: the LibTorch you have and no tests (README, "On your cluster"):
#     SCOUTER_CMAKE_ARGS="-DCMAKE_PREFIX_PATH=/path/to/torch/share/cmake -DSCOUTER_BUILD_TESTS=OFF"
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# shellcheck disable=SC2086  # split on purpose: one option per word
configured=$(cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${SCOUTER_CMAKE_ARGS:-}) \
  || { echo "$configured"; exit 1; }
# What was found where it can differ between machines (CMake's own lines only on failure).
grep -E '^-- (MPI|NCCL|toml\+\+|stb):' <<<"$configured" || true
cmake --build "$BUILD_DIR" -j "$(nproc)" "$@"
