#!/usr/bin/env bash
# Training-step speed on this CPU, one table naming the CPU: the authors' published model (its own
# PyTorch code, through scripts/published_bench.py) as published (fp32) and tuned (bf16 autocast +
# channels_last: its `tuned` variant), beside ours (`scouter bench`) in fp32 and in bf16
# (--precision fp32|bf16), in alternating rounds. All four time forward + backward + AdamW on one
# synthetic batch (median of the timed steps; the published step also does its engine's
# loss.item() calls, which cost nothing on a CPU).
#   scripts/bench_cpu.sh PUBLISHED_DIR
# PUBLISHED_DIR: a checkout of github.com/wbw520/scouter (never modified). Needs the `scouter`
# target built (BUILD_DIR, default build; or SCOUTER_BIN) and Debian's python3-torch
# (scripts/install_deps.sh --fixtures). Cases (batch): MNIST SCOUTER+ resnet18 1x260x260 (8),
# MNIST FC resnet18 1x260x260 (8), ImageNet SCOUTER+ resnest26d 3x260x260 (8, 10 classes), and
# the quickstart's smallcnn cases FC, SCOUTER+, SCOUTER- 1x28x28 (64; ours only: timm has no
# smallcnn, so their published columns read "–"). Environment:
#   ROUNDS (3)   rounds; odd rounds run each case as published, tuned, ours fp32, ours bf16,
#                even rounds in the reverse order
#   THREADS (2)  intra-op threads of each
#   STEPS (20)   `scouter bench --steps`: 260-px cases time STEPS/4 (at least 3) steps after 3
#                warm-up steps; the published model gets the same counts
#   CASES        comma-separated parts of case names: the cases whose name contains one of them
#                (e.g. CASES=resnest26d, CASES='SCOUTER+ resnet18,quickstart'); default all
#   EXTRA (1)    0: only MNIST SCOUTER+ resnet18 (the same as CASES='MNIST SCOUTER+ resnet18')
#   PYTHON (/usr/bin/python3), WORK (/tmp/scouter_bench_cpu: logs of every command)
# Prints the CPU (model, cores, avx2/avx512f/avx512_bf16/amx_bf16, `scouter bench`'s "CPU bf16:"
# line), the threads, both PyTorch versions and the load averages, then per case one row per round
# and a "best of N" row (fastest of each column) with the ratios published / ours bf16,
# tuned / ours bf16 and published / ours fp32 (> 1: ours is faster). A command that fails reads
# FAILED in the table and the script exits 1 after it. The machine may be shared: trust ratios of
# one run only.
set -euo pipefail
PUBLISHED_DIR=${1:-}
if [ -z "$PUBLISHED_DIR" ] || [ $# -gt 1 ]; then
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
CASES=${CASES:-}
WORK=${WORK:-/tmp/scouter_bench_cpu}
for v in ROUNDS THREADS STEPS; do
  if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
    echo "bench_cpu.sh: $v='${!v}' is not a positive whole number" >&2
    exit 2
  fi
done
if [ "$EXTRA" != 0 ] && [ "$EXTRA" != 1 ]; then
  echo "bench_cpu.sh: EXTRA='$EXTRA' (valid: 1, all cases; 0, only MNIST SCOUTER+ resnet18)" >&2
  exit 2
fi
if [ "$EXTRA" = 0 ] && [ -n "$CASES" ]; then
  echo "bench_cpu.sh: EXTRA=0 and CASES='$CASES' both pick cases: set one of them" >&2
  exit 2
fi
if [ ! -x "$BIN" ]; then
  echo "bench_cpu.sh: no '$BIN': build it first (BUILD_DIR=build scripts/build.sh --target scouter) or set SCOUTER_BIN" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "bench_cpu.sh: '$PYTHON' has no torch: run scripts/install_deps.sh --fixtures (Debian's python3-torch) or set PYTHON" >&2
  exit 2
fi

# The cases: name (as `scouter bench` prints it) and published_bench.py's arguments ("": ours only).
SLOT_ARGS="--use_slot true --loss_status 1 --slots_per_class 1 --power 1 --to_k_layer 1 --lambda_value 1"
ALL_CASES=(
  "MNIST SCOUTER+ resnet18 1x260x260"
  "MNIST FC resnet18 1x260x260"
  "ImageNet SCOUTER+ resnest26d 3x260x260"
  "quickstart FC smallcnn 1x28x28"
  "quickstart SCOUTER+ smallcnn 1x28x28"
  "quickstart SCOUTER- smallcnn 1x28x28"
)
declare -A PUB_ARGS=(
  ["MNIST SCOUTER+ resnet18 1x260x260"]="--model resnet18 --in_chans 1 --img_size 260 --num_classes 10 --batch 8 $SLOT_ARGS"
  ["MNIST FC resnet18 1x260x260"]="--model resnet18 --in_chans 1 --img_size 260 --num_classes 10 --batch 8 --use_slot false"
  ["ImageNet SCOUTER+ resnest26d 3x260x260"]="--model resnest26d --in_chans 3 --img_size 260 --num_classes 10 --batch 8 $SLOT_ARGS"
)
[ "$EXTRA" = 0 ] && CASES="MNIST SCOUTER+ resnet18"
RUN_CASES=()
if [ -z "$CASES" ]; then
  RUN_CASES=("${ALL_CASES[@]}")
else
  IFS=, read -r -a PARTS <<< "$CASES"
  for part in "${PARTS[@]}"; do
    found=0
    for c in "${ALL_CASES[@]}"; do
      if [ -n "$part" ] && [[ $c == *"$part"* ]]; then found=1; fi
    done
    if [ "$found" = 0 ]; then
      echo "bench_cpu.sh: CASES part '$part' is in no case name (valid: parts of $(printf "'%s', " "${ALL_CASES[@]}" | sed 's/, $//'))" >&2
      exit 2
    fi
  done
  for c in "${ALL_CASES[@]}"; do
    for part in "${PARTS[@]}"; do
      if [ -n "$part" ] && [[ $c == *"$part"* ]]; then RUN_CASES+=("$c"); break; fi
    done
  done
fi

mkdir -p "$WORK"
RESULTS=$WORK/results.tsv  # case <tab> round <tab> column <tab> batch <tab> ms (or FAILED)
: > "$RESULTS"
LOADS=$WORK/loads.txt  # 1-minute load average at the start of each round
: > "$LOADS"
BIG_STEPS=$(( STEPS / 4 > 3 ? STEPS / 4 : 3 ))
slug() { echo "$1" | tr -c 'A-Za-z0-9+-' _; }

# published CASE ROUND VARIANTS: one published_bench.py run of VARIANTS (as_published,tuned in
# the order to run), the median ms of each into RESULTS (columns published and tuned).
published() {
  local name=$1 round=$2 variants=$3 log batch
  log="$WORK/published-$(slug "$name")-r$round.log"
  batch=$(sed -n 's/.*--batch \([0-9]*\).*/\1/p' <<< "${PUB_ARGS[$name]}")
  # shellcheck disable=SC2086  # PUB_ARGS holds the arguments, split on spaces
  if "$PYTHON" scripts/published_bench.py "$PUBLISHED_DIR" --case "$name" --device cpu \
      --threads "$THREADS" --warmup 3 --steps "$BIG_STEPS" --variants "$variants" \
      ${PUB_ARGS[$name]} > "$log" 2>&1 && [ "$(grep -c "^published | " "$log")" = 2 ]; then
    awk -F' [|] ' -v r="$round" -v b="$batch" '/^published \| / {
        printf "%s\t%s\t%s\t%s\t%s\n", $2, r, ($3 == "as_published" ? "published" : $3), b, $4}' \
      "$log" >> "$RESULTS"
  else
    printf '%s\t%s\tpublished\t\tFAILED\n%s\t%s\ttuned\t\tFAILED\n' "$name" "$round" "$name" "$round" >> "$RESULTS"
    echo "bench_cpu.sh: published '$name' round $round failed, see $log" >&2
  fi
}

# ours CASE ROUND PRECISION: one `scouter bench` run of that case, its median ms into RESULTS
# (column fp32 or bf16). The first "CPU bf16:" line goes to $WORK/cpu_bf16.txt.
ours() {
  local name=$1 round=$2 precision=$3 log
  log="$WORK/ours-$(slug "$name")-$precision-r$round.log"
  # Table: | case | precision | ranks | batch/rank | gradient sync | step ms | images/s | comm wait |
  if "$BIN" bench --threads "$THREADS" --steps "$STEPS" --precision "$precision" --filter "$name" \
      > "$log" 2>&1 &&
     awk -F' *[|] *' -v c="$name" -v p="$precision" '$2 == c && $3 == p && $6 == "none" {n++}
                                                     END {exit n == 1 ? 0 : 1}' "$log"; then
    awk -F' *[|] *' -v c="$name" -v p="$precision" -v r="$round" '$2 == c && $3 == p && $6 == "none" {
        printf "%s\t%s\t%s\t%s\t%s\n", $2, r, p, $5, $7}' "$log" >> "$RESULTS"
    [ -s "$WORK/cpu_bf16.txt" ] || grep -m1 '^CPU bf16: ' "$log" > "$WORK/cpu_bf16.txt" || true
  else
    printf '%s\t%s\t%s\t\tFAILED\n' "$name" "$round" "$precision" >> "$RESULTS"
    echo "bench_cpu.sh: ours '$name' $precision round $round failed, see $log" >&2
  fi
}

: > "$WORK/cpu_bf16.txt"
echo "bench_cpu.sh: $ROUNDS rounds, $THREADS threads, ${#RUN_CASES[@]} cases; published: $PUBLISHED_DIR; logs in $WORK" >&2
for round in $(seq 1 "$ROUNDS"); do
  echo "bench_cpu.sh: round $round/$ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  cut -d' ' -f1 /proc/loadavg >> "$LOADS"
  for c in "${RUN_CASES[@]}"; do
    has_pub=${PUB_ARGS[$c]+yes}
    if [ $(( round % 2 )) = 1 ]; then
      if [ -n "$has_pub" ]; then published "$c" "$round" as_published,tuned; fi
      ours "$c" "$round" fp32
      ours "$c" "$round" bf16
    else
      ours "$c" "$round" bf16
      ours "$c" "$round" fp32
      if [ -n "$has_pub" ]; then published "$c" "$round" tuned,as_published; fi
    fi
  done
done

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
FLAGS=$(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -1)
has() { case " $FLAGS " in *" $1 "*) echo yes ;; *) echo no ;; esac; }
TORCH=$("$PYTHON" -c 'import torch; print(torch.__version__)')
VERSION=$("$BIN" version 2>/dev/null | head -1 || true)
# LibTorch's version: the package that holds the libtorch_cpu the binary loads, else its file name.
LIBTORCH=$(ldd "$BIN" 2>/dev/null | awk '/libtorch_cpu/ {print $3; exit}')
LIBTORCH=${LIBTORCH:+$(readlink -f "$LIBTORCH")}
PKG=
if [ -n "$LIBTORCH" ]; then PKG=$(dpkg -S "$LIBTORCH" 2>/dev/null | head -1 | cut -d: -f1 || true); fi
if [ -n "$PKG" ]; then
  LIBTORCH="$PKG $(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null)"
else
  LIBTORCH=$(basename "${LIBTORCH:-libtorch unknown}")
fi
BF16_LINE=$(cat "$WORK/cpu_bf16.txt")
CASE_LIST=$(printf '%s\n' "${RUN_CASES[@]}")
"$PYTHON" - "$RESULTS" "$ROUNDS" "$CASE_LIST" <<PY
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
rounds = int(sys.argv[2])
cases = sys.argv[3].split("\n")
print("CPU: $CPU, $(nproc) cores; avx2 $(has avx2), avx512f $(has avx512f), "
      "avx512_bf16 $(has avx512_bf16), amx_bf16 $(has amx_bf16)")
print("${BF16_LINE:-CPU bf16: (no scouter bench run printed it)}")
print("$THREADS threads each; $ROUNDS rounds; STEPS $STEPS (260-px cases: 3 warm-up, $BIG_STEPS timed"
      " steps); published: PyTorch $TORCH ($PYTHON); ours: $VERSION, LibTorch $LIBTORCH")
print("1-minute load average at the start of rounds 1..$ROUNDS: $(paste -sd' ' "$LOADS");"
      " at the end: $(cut -d' ' -f1-3 /proc/loadavg) (above $(nproc): other processes share the"
      " cores, expect noise)")
print()
cols = ["published", "tuned", "fp32", "bf16"]
print("| case | batch | round | published ms | published tuned ms | ours fp32 ms | ours bf16 ms "
      "| published / ours bf16 | tuned / ours bf16 | published / ours fp32 |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
ms, batch = {}, {}
for case, r, col, b, v in rows:
    ms[(case, int(r), col)] = v
    if b:
        batch[case] = b
def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
def cell(v):
    return "–" if v is None else f"{v:.1f}"
def ratio(a, b, bold=False):
    if not a or not b:
        return "–"
    return f"**{a / b:.2f}**" if bold else f"{a / b:.2f}"
def ratios(v, bold=False):
    p, t, f, b = (v[c] for c in cols)
    return f"{ratio(p, b, bold)} | {ratio(t, b, bold)} | {ratio(p, f, bold)}"
for case in cases:
    best = {c: [] for c in cols}
    for r in range(1, rounds + 1):
        raw = {c: ms.get((case, r, c)) for c in cols}
        v = {c: num(raw[c]) for c in cols}
        for c in cols:
            if v[c] is not None:
                best[c].append(v[c])
        shown = " | ".join(raw[c] if raw[c] == "FAILED" else cell(v[c]) for c in cols)
        print(f"| {case} | {batch.get(case, '')} | {r} | {shown} | {ratios(v)} |")
    v = {c: (min(best[c]) if best[c] else None) for c in cols}
    shown = " | ".join(cell(v[c]) for c in cols)
    print(f"| {case} | {batch.get(case, '')} | best of {rounds} | {shown} | {ratios(v, True)} |")
PY
if grep -q $'\tFAILED$' "$RESULTS"; then
  echo "bench_cpu.sh: $(grep -c $'\tFAILED$' "$RESULTS") measurement(s) FAILED (see the logs in $WORK)" >&2
  exit 1
fi
