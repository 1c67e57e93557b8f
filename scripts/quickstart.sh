#!/usr/bin/env bash
# The main job (README): installs, builds, converts Debian's Fashion-MNIST, trains the FC
# baseline, SCOUTER+ and SCOUTER- with the small CNN backbone (the sweep
# experiments/fashion_mnist.toml), writes attention pictures and prints a table of accuracy and
# attention area. Re-running resumes unfinished runs and skips finished ones.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh --target scouter
bin=${BUILD_DIR:-build}/launcher/scouter

"$bin" prep FashionMNIST --src /usr/share/datasets/fashion-mnist --out data/fashion-mnist
"$bin" sweep experiments/fashion_mnist.toml
echo
echo "Attention pictures: runs/quickstart/scouter_pos/vis, runs/quickstart/scouter_neg/vis"
"$bin" report runs/quickstart
