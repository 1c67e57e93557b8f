#!/usr/bin/env bash
# Training speed when the cores are shared (docs/speed.md, "Sharing the cores"): the FC
# quickstart run (Fashion-MNIST, smallcnn, batch 64, all cores) for one epoch alone and next to
# one busy process (a shell loop spinning on one core), with libgomp's default spinning (GOMP_SPINCOUNT=300000) and with ours
# (launcher/main.cpp). Prints one line per case and the ratios; quote them with the CPU name.
#   scripts/bench_contention.sh [DATA_DIR] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BUILD_DIR:-build}/launcher/scouter
data=${1:-data/fashion-mnist}
repeats=${2:-1}
[ -x "$bin" ] || { echo "no $bin: build first (scripts/build.sh --target scouter)" >&2; exit 2; }
[ -d "$data" ] || "$bin" prep FashionMNIST --src /usr/share/datasets/fashion-mnist --out "$data"
work=$(mktemp -d)
busy=""
cleanup() { [ -n "$busy" ] && kill "$busy" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

rate() {  # LABEL ENV...: images/s of one FC epoch
  local label=$1; shift
  rm -rf "$work/run"
  env "$@" "$bin" train --dataset FashionMNIST --dataset_dir "$data" --model smallcnn \
    --num_classes 10 --img_size 0 --batch_size 64 --use_slot false --lr 1e-3 --epochs 1 \
    --seed 42 --output_dir "$work/run" > "$work/log" 2>&1
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["images_per_s"])' \
    "$work/run/metrics.jsonl"
}

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
for k in $(seq "$repeats"); do
  for wait in default ours; do
    if [ "$wait" = default ]; then envs=(-u OMP_WAIT_POLICY GOMP_SPINCOUNT=300000)
    else envs=(-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT); fi
    a=$(rate alone "${envs[@]}")
    ( while :; do :; done ) & busy=$!
    c=$(rate busy "${envs[@]}")
    kill "$busy"; wait "$busy" 2>/dev/null || true; busy=""
    printf '%-8s spin: alone %7.0f img/s, next to one busy process %7.0f img/s = %4.0f%%\n' \
      "$wait" "$a" "$c" "$(python3 -c "print(100*$c/$a)")"
  done
done
