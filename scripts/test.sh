#!/usr/bin/env bash
# The test command (README; CI runs it through .ci/run): installs what is needed, builds
# everything and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" --timeout 900
