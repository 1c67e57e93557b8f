#!/usr/bin/env bash
# Configures and builds the project (Release) into build/. Extra arguments go to `cmake --build`,
# e.g. `scripts/build.sh --target scouter`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" "$@"
