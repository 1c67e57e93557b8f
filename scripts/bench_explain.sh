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
# rate LABEL N RUN ARGS...: runs explain; prints images/s over the whole command (start-up,
# pictures and files included) and over the work alone (maps, metrics: from metrics.json).
rate() {
  local label=$1 n=$2 run=$3; shift 3
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" explain "$run" "$@" --log_level warn >/dev/null
  t1=$(date +%s.%N)
  python3 - "$n" "$t0" "$t1" "$label" "$run/explain/metrics.json" <<'PY'
import json, sys
n, a, b, label, path = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
s = json.load(open(path))["seconds"]
work = s["maps_rank0"] + s["metrics_rank0"]
print(f"{label:<50} {n:5d} img  command {n / (b - a):8.1f} img/s  maps+metrics {n / work:8.1f} img/s")
PY
}
rate "SCOUTER+ attention maps (all classes)" "$MAPS" "$WORK/scouter_pos" --images "$MAPS" --metrics false
rate "FC CAM + Grad-CAM + Grad-CAM++ maps (all classes)" "$MAPS" "$WORK/fc" --images "$MAPS" --metrics false
rate "SCOUTER+ maps + metrics" "$METRICS" "$WORK/scouter_pos" --images "$METRICS"
rate "FC 3 CAM methods + metrics" "$METRICS" "$WORK/fc" --images "$METRICS"
SMALL=$((METRICS / 4))
rate "SCOUTER+ metrics, eval_batch_size 64" "$SMALL" "$WORK/scouter_pos" --images "$SMALL" --eval_batch_size 64
rate "SCOUTER+ metrics, eval_batch_size 1 (unbatched)" "$SMALL" "$WORK/scouter_pos" --images "$SMALL" --eval_batch_size 1
