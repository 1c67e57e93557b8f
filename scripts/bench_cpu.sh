#!/usr/bin/env bash
# Training-step speed on this CPU: the authors' published model (its own PyTorch code, through
# scripts/published_bench.py) against ours (`scouter bench`), in alternating rounds, one table.
# Both time forward + backward + AdamW on one synthetic batch (median of the timed steps; the
# published step also does its engine's loss.item() calls, which cost nothing on a CPU).
#   scripts/bench_cpu.sh PUBLISHED_DIR
# PUBLISHED_DIR: a checkout of github.com/wbw520/scouter (never modified). Needs the `scouter`
# target built (BUILD_DIR, default build; or SCOUTER_BIN) and Debian's python3-torch
# (scripts/install_deps.sh --fixtures). Environment:
#   ROUNDS (3)   rounds; odd rounds run the published model first, even rounds ours first
#   THREADS (2)  intra-op threads of both
#   STEPS (20)   `scouter bench --steps`: 260-px cases time STEPS/4 (at least 3) steps after 3
#                warm-up steps; the published model gets the same counts
#   EXTRA (1)    also the FC resnet18 case, and our quickstart smallcnn cases (no published
#                counterpart: timm has no smallcnn); 0: only MNIST SCOUTER+ resnet18
#   PYTHON (/usr/bin/python3), WORK (/tmp/scouter_bench_cpu: logs of every command)
# Prints ms/step per round and the ratio published/ours (> 1: ours is faster), then the best
# of the rounds (fastest of each side). The machine is shared: trust ratios of one run only.
set -euo pipefail
PUBLISHED_DIR=${1:-}
if [ -z "$PUBLISHED_DIR" ]; then
  echo "usage: scripts/bench_cpu.sh PUBLISHED_DIR (a checkout of github.com/wbw520/scouter)" >&2
  exit 2
fi
if [ ! -f "$PUBLISHED_DIR/sloter/slot_model.py" ]; then
  echo "bench_cpu.sh: '$PUBLISHED_DIR' holds no sloter/slot_model.py (expected a checkout of wbw520/scouter)" >&2
  exit 2
fi
PUBLISHED_DIR=$(cd "$PUBLISHED_DIR" && pwd)
cd "$(dirname "$0")/.."
BIN=${SCOUTER_BIN:-${BUILD_DIR:-build}/launcher/scouter}
PYTHON=${PYTHON:-/usr/bin/python3}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
STEPS=${STEPS:-20}
EXTRA=${EXTRA:-1}
WORK=${WORK:-/tmp/scouter_bench_cpu}
if [ ! -x "$BIN" ]; then
  echo "bench_cpu.sh: no '$BIN': build it first (BUILD_DIR=build scripts/build.sh --target scouter) or set SCOUTER_BIN" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "bench_cpu.sh: '$PYTHON' has no torch: run scripts/install_deps.sh --fixtures (Debian's python3-torch) or set PYTHON" >&2
  exit 2
fi
mkdir -p "$WORK"
RESULTS=$WORK/results.tsv  # case <tab> round <tab> who <tab> batch <tab> ms (or FAILED)
: > "$RESULTS"
LOADS=$WORK/loads.txt  # 1-minute load average at the start of each round
: > "$LOADS"
BIG_STEPS=$(( STEPS / 4 > 3 ? STEPS / 4 : 3 ))

# published CASE ROUND ARGS...: one published_bench.py run, its median ms into RESULTS.
published() {
  local name=$1 round=$2 log
  shift 2
  log="$WORK/published-$(echo "$name" | tr -c 'A-Za-z0-9+-' _)-r$round.log"
  if "$PYTHON" scripts/published_bench.py "$PUBLISHED_DIR" --case "$name" --device cpu \
      --threads "$THREADS" --warmup 3 --steps "$BIG_STEPS" --variants as_published "$@" > "$log" 2>&1 &&
     grep -q "^published | " "$log"; then
    awk -F' [|] ' -v r="$round" '/^published \| /{printf "%s\t%s\tpublished\t%s\t%s\n", $2, r, b, $4}' \
      b="$(sed -n 's/.*--batch \([0-9]*\).*/\1/p' <<< "$*")" "$log" >> "$RESULTS"
  else
    printf '%s\t%s\tpublished\t\tFAILED\n' "$name" "$round" >> "$RESULTS"
    echo "bench_cpu.sh: published '$name' round $round failed, see $log" >&2
  fi
}

# ours FILTER ROUND: one `scouter bench` run, every case's median ms into RESULTS.
ours() {
  local filter=$1 round=$2 log
  log="$WORK/ours-$filter-r$round.log"
  if "$BIN" bench --threads "$THREADS" --steps "$STEPS" --filter "$filter" > "$log" 2>&1 &&
     grep -q "^| .* | none | " "$log"; then
    awk -F' *[|] *' -v r="$round" '$5 == "none" {printf "%s\t%s\tours\t%s\t%s\n", $2, r, $4, $6}' \
      "$log" >> "$RESULTS"
  else
    printf '%s\t%s\tours\t\tFAILED\n' "$filter" "$round" >> "$RESULTS"
    echo "bench_cpu.sh: ours '$filter' round $round failed, see $log" >&2
  fi
}

run_published() {
  published "MNIST SCOUTER+ resnet18 1x260x260" "$1" --model resnet18 --in_chans 1 --img_size 260 \
    --num_classes 10 --batch 8 --use_slot true --loss_status 1 --slots_per_class 1 --power 1 \
    --to_k_layer 1 --lambda_value 1
  if [ "$EXTRA" = 1 ]; then
    published "MNIST FC resnet18 1x260x260" "$1" --model resnet18 --in_chans 1 --img_size 260 \
      --num_classes 10 --batch 8 --use_slot false
  fi
}
run_ours() {
  if [ "$EXTRA" = 1 ]; then
    ours "resnet18" "$1"
    ours "quickstart" "$1"
  else
    ours "MNIST SCOUTER+ resnet18" "$1"
  fi
}

echo "bench_cpu.sh: $ROUNDS rounds, $THREADS threads; published: $PUBLISHED_DIR; logs in $WORK" >&2
for round in $(seq 1 "$ROUNDS"); do
  echo "bench_cpu.sh: round $round/$ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  cut -d' ' -f1 /proc/loadavg >> "$LOADS"
  if [ $(( round % 2 )) = 1 ]; then run_published "$round"; run_ours "$round"
  else run_ours "$round"; run_published "$round"; fi
done

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
FLAGS=$(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -1)
has() { case " $FLAGS " in *" $1 "*) echo yes ;; *) echo no ;; esac; }
TORCH=$("$PYTHON" -c 'import torch; print(torch.__version__)')
VERSION=$("$BIN" version 2>/dev/null | head -1 || true)
"$PYTHON" - "$RESULTS" "$ROUNDS" <<PY
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
rounds = int(sys.argv[2])
print("CPU: $CPU, $(nproc) cores; avx2 $(has avx2), avx512f $(has avx512f); $THREADS threads each")
print("published: PyTorch $TORCH ($PYTHON); ours: $VERSION")
print("1-minute load average at the start of rounds 1..$ROUNDS: $(paste -sd' ' "$LOADS")"
      " (above $(nproc): other processes share the cores, expect noise)")
print()
print("| case | batch | round | published ms/step | ours ms/step | published/ours |")
print("| --- | --- | --- | --- | --- | --- |")
ms = {}
batch = {}
cases = []
for case, r, who, b, v in rows:
    if case not in cases:
        cases.append(case)
    ms[(case, int(r), who)] = v
    if b:
        batch[case] = b
def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
def fmt(v):
    return "–" if v is None else f"{v:.1f}"
for case in cases:
    if not any((case, r, "ours") in ms or (case, r, "published") in ms for r in range(1, rounds + 1)):
        continue
    best_p, best_o = [], []
    for r in range(1, rounds + 1):
        p, o = ms.get((case, r, "published")), ms.get((case, r, "ours"))
        pn, on = num(p), num(o)
        if pn is not None: best_p.append(pn)
        if on is not None: best_o.append(on)
        ratio = f"{pn / on:.2f}" if pn and on else "–"
        print(f"| {case} | {batch.get(case, '')} | {r} | {p or '–'} | {o or '–'} | {ratio} |")
    bp, bo = (min(best_p) if best_p else None), (min(best_o) if best_o else None)
    ratio = f"**{bp / bo:.2f}**" if bp and bo else "–"
    print(f"| {case} | {batch.get(case, '')} | best of {rounds} | {fmt(bp)} | {fmt(bo)} | {ratio} |")
PY
