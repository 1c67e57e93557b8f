#!/usr/bin/env bash
# The main job (README): installs, builds, converts Debian's Fashion-MNIST, trains the FC
# baseline, SCOUTER+ and SCOUTER- with the small CNN backbone, writes attention pictures and
# prints a table of accuracy and attention area. Re-running resumes or skips finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/quickstart}
scripts/install_deps.sh
scripts/build.sh --target scouter
bin=${BUILD_DIR:-build}/launcher/scouter

"$bin" prep FashionMNIST --src /usr/share/datasets/fashion-mnist --out data/fashion-mnist
"$bin" train -c experiments/fashion_mnist/fc.toml --output_dir "$RUNS/fc" --resume true
"$bin" train -c experiments/fashion_mnist/scouter_pos.toml --output_dir "$RUNS/scouter_pos" \
  --pre_checkpoint "$RUNS/fc" --resume true
"$bin" train -c experiments/fashion_mnist/scouter_neg.toml --output_dir "$RUNS/scouter_neg" \
  --pre_checkpoint "$RUNS/fc" --resume true
echo
echo "Attention pictures: $RUNS/scouter_pos/vis, $RUNS/scouter_neg/vis"
"$bin" report "$RUNS"
