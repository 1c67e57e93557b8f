#!/usr/bin/env bash
# Explanation throughput on the quickstart runs (run scripts/quickstart.sh first): maps only
# (SCOUTER+ attention; FC CAM + Grad-CAM + Grad-CAM++, every class, with pictures of 8 images)
# and maps + all metrics, in images/s; then the insertion/deletion batching: the same metrics with
# eval_batch_size 1 (one forward pass per curve step) against 64. Each explain writes into a copy
# of the run, so the quickstart's own explain/ folders are left alone.
#   scripts/bench_explain.sh [MAP_IMAGES (2000)] [METRIC_IMAGES (200)]
set -euo pipefail
cd "$(dirname "$0")/.."
MAPS=${1:-2000}
METRICS=${2:-200}
BIN=${BUILD_DIR:-build}/launcher/scouter
RUNS=${RUNS:-runs/quickstart}
WORK=${BENCH_DIR:-/tmp/scouter-bench-explain}
rm -rf "$WORK" && mkdir -p "$WORK"
for r in fc scouter_pos; do
  [ -f "$RUNS/$r/summary.json" ] || { echo "bench_explain: $RUNS/$r is not a finished run; run scripts/quickstart.sh" >&2; exit 2; }
  cp -r "$RUNS/$r" "$WORK/$r"
  rm -rf "$WORK/$r/explain"
done
rate() {  # rate LABEL N ARGS...: runs explain, prints images/s from the wall time
  local label=$1 n=$2; shift 2
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" explain "$@" --log_level warn >/dev/null
  t1=$(date +%s.%N)
  python3 -c "import sys; n, a, b = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); print(f'{sys.argv[4]:<52} {n:6d} images {b - a:7.2f} s {n / (b - a):9.1f} img/s')" "$n" "$t0" "$t1" "$label"
}
rate "SCOUTER+ attention maps (all classes)" "$MAPS" "$WORK/scouter_pos" --images "$MAPS" --metrics false
rate "FC CAM + Grad-CAM + Grad-CAM++ maps (all classes)" "$MAPS" "$WORK/fc" --images "$MAPS" --metrics false
rate "SCOUTER+ maps + metrics" "$METRICS" "$WORK/scouter_pos" --images "$METRICS"
rate "FC 3 CAM methods + metrics" "$METRICS" "$WORK/fc" --images "$METRICS"
SMALL=$((METRICS / 4))
rate "SCOUTER+ metrics, eval_batch_size 64" "$SMALL" "$WORK/scouter_pos" --images "$SMALL" --eval_batch_size 64
rate "SCOUTER+ metrics, eval_batch_size 1 (unbatched)" "$SMALL" "$WORK/scouter_pos" --images "$SMALL" --eval_batch_size 1
