#!/usr/bin/env bash
# Conversion speed of `scouter prep` on generated photos-like JPEGs (500x375, as ImageNet's
# typical size) to 260-px shards: one decode thread (the plain loop) against N threads and against
# N MPI ranks of one thread, in alternation, then the batch loader over the shards. The machine
# must be otherwise idle: another busy process halves what 2 threads can gain on 2 cores. Needs the build and /usr/bin/python3 with
# PIL (scripts/install_deps.sh --fixtures) to generate the images once.
#   scripts/bench_prep.sh [IMAGES (1000)] [THREADS (2)] [ROUNDS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
THREADS=${2:-2}
ROUNDS=${3:-3}
BIN=${BUILD_DIR:-build}/launcher/scouter
WORK=${BENCH_DIR:-/tmp/scouter-bench-prep}
SRC=$WORK/src-$N
mkdir -p "$WORK"
if [ ! -f "$SRC/.done" ]; then
  rm -rf "$SRC"
  mkdir -p "$SRC"
  /usr/bin/python3 - "$SRC" "$N" <<'PY'
import sys
import numpy as np
from PIL import Image, ImageDraw
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.RandomState(0)
y, x = np.mgrid[0:375, 0:500].astype(np.float32)
for i in range(n):
    base = np.stack([np.clip(60 + 120 * np.sin(x / rng.uniform(20, 90) + k) * np.cos(y / rng.uniform(20, 90))
                             + 60 * (k == i % 3), 0, 255) for k in range(3)], -1)
    base += rng.normal(0, 10, base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randint(0, 450), rng.randint(0, 330)
        d.ellipse([x0, y0, x0 + rng.randint(20, 150), y0 + rng.randint(20, 120)],
                  fill=tuple(int(v) for v in rng.randint(0, 256, 3)))
    img.save(f"{out}/cat{i % 10:02d}_{i:05d}.jpg", quality=90)
PY
  touch "$SRC/.done"
fi
echo "images: $N x 500x375 JPEG, $(du -sh "$SRC" | cut -f1); $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }  # all cores, in ticks
# threads [launcher...] -> "<img/s> <cores other processes used meanwhile>" of a fresh conversion.
rate() {
  local threads=$1 b0 b1 t0 t1 log
  shift
  rm -rf "$WORK/out"
  log=$WORK/log
  b0=$(busy)
  t0=$(date +%s.%N)
  /usr/bin/time -f "cpu %U %S" -o "$WORK/time" "$@" "$BIN" prep ConText --src "$SRC" \
    --out "$WORK/out" --threads "$threads" --shard_size 250 > "$log" 2>&1
  t1=$(date +%s.%N)
  b1=$(busy)
  local ips ours
  ips=$(sed -n 's/.*decoded [0-9]* images in [0-9.]* s: \([0-9.]*\) img\/s.*/\1/p' "$log")
  # mpirun's own CPU time covers its children only when they are waited for: good enough here.
  ours=$(awk '/^cpu/{print $2+$3}' "$WORK/time")
  echo "$ips $(echo "scale=2; (($b1 - $b0) / $(getconf CLK_TCK) - $ours) / ($t1 - $t0)" | bc)"
}
MPIRUN="mpirun --allow-run-as-root --oversubscribe -np $THREADS"
echo "round: img/s of 1 thread | $THREADS threads | $THREADS ranks x 1 thread (cores used by other processes during each)"
for r in $(seq "$ROUNDS"); do
  read -r one o1 < <(rate 1)
  read -r many o2 < <(rate "$THREADS")
  read -r ranks o3 < <(rate 1 $MPIRUN)
  echo "round $r: $one ($o1) | $many ($o2) x$(echo "scale=2; $many / $one" | bc)" \
       "| $ranks ($o3) x$(echo "scale=2; $ranks / $one" | bc)"
done
"$BIN" bench --loader "$WORK/out" --batch_size 64 --epochs 4
