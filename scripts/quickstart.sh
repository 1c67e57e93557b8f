#!/usr/bin/env bash
# The main job (README): installs, builds, converts Debian's Fashion-MNIST, trains the FC
# baseline, SCOUTER+ and SCOUTER- with the small CNN backbone (the sweep
# experiments/fashion_mnist.toml), writes attention pictures, explains each run (`scouter
# explain`: maps, grids and metrics of 100 validation images), prints the tables of accuracy,
# attention area and explanation metrics and writes runs/quickstart/report.html. Re-running
# resumes unfinished runs and skips finished ones.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh --target scouter
bin=${BUILD_DIR:-build}/launcher/scouter

"$bin" prep FashionMNIST --src /usr/share/datasets/fashion-mnist --out data/fashion-mnist
"$bin" sweep experiments/fashion_mnist.toml
echo
"$bin" report runs/quickstart --html
echo
echo "Explanations: runs/quickstart/*/explain (metrics.json, grids/, pictures/);"
echo "the whole study on one page: runs/quickstart/report.html"
