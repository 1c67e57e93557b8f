#!/usr/bin/env bash
# GPU training speed, ours against the authors' published model, in one call and one table.
#   scripts/bench_gpu.sh PUBLISHED_DIR
# PUBLISHED_DIR: a checkout of github.com/wbw520/scouter (never modified; run through
# scripts/published_bench.py with its run-time patches). Made for a machine with one NVIDIA H100
# or H200 (16 cores, PyTorch with CUDA as the `python3` first on PATH, ~6 min); every part can be
# tried on a CPU with tiny sizes:  PYTHON=/usr/bin/python3 DEVICE=cpu SMOKE=1 SCOUTER_BIN=build/launcher/scouter
# scripts/bench_gpu.sh /tmp/published
#
# Steps (PARTS, comma list, default build,prep,ours,published):
#  build      cmake + ninja of the `scouter` target against PyTorch's LibTorch (NCCL from
#             nvidia.nccl) into BUILD; skipped when SCOUTER_BIN is given.
#  prep       Fashion-MNIST (1 channel; the first FASHION_TRAIN/FASHION_VAL images of the IDX
#             files in FASHION_DIR) -> `scouter prep FashionMNIST`; a synthetic 3-channel
#             ImageNet (N_IMAGES train images, IMAGENET_CLASSES classes, Kaggle layout, from
#             scripts/make_imagenet_layout.py) -> `scouter prep ImageNet --img_size 260`.
#  ours       `scouter train` end to end (loader, H2D copies, evaluation included), EPOCHS
#             epochs per case under MPIRUN (one rank); ours img/s = images_per_s of the LAST
#             epoch in metrics.jsonl, so warm-up (cuDNN autotune, graph capture) is left out;
#             GPU busy % = mean of nvidia-smi utilization.gpu samples (every 200 ms) inside the
#             last epoch's training window (whole run where that window is too short; marked).
#  published  scripts/published_bench.py per case: as published (fp32, NCHW, cuDNN autotune
#             off) and tuned (bf16 autocast + channels_last + cuDNN autotune), synthetic batch
#             on the GPU, PUB_WARMUP warm-up then PUB_STEPS timed steps, median.
# Cases: SCOUTER+ resnet18 1x260 b64 and FC resnet18 b64 (published MNIST settings, docs/model.md
# "Published settings": 1 slot/class, power 1, to_k 1, lambda 1; on Fashion-MNIST resized to
# 260 px),
# SCOUTER+ resnest26d 3x260 b70, 100 classes (ImageNet settings: power 2, to_k 3, lambda 1),
# and the 1-rank NCCL overhead: the resnet18 SCOUTER+ case with --grad_sync nccl against the
# same case with --grad_sync none (both under MPIRUN). Neither side freezes layers (published
# pre_trained/use_pre off, ours without use_pre). A failed case prints FAILED in its row.
#
# Environment (defaults):
#   WORK (/tmp/scouter_bench)  everything: build, data, runs, logs ($WORK/logs, copied to $OUT/
#                             bench_gpu_logs when OUT is set, with the table as bench_gpu_table.md)
#   PARTS, DEVICE (cuda), PYTHON (python3; /usr/bin/python3 where python3 has no torch)
#   SCOUTER_BIN (skip the build), BUILD ($WORK/build), CMAKE_EXTRA (extra cmake arguments,
#     word-split), CMAKE_PREFIX_EXTRA (;-list added to CMAKE_PREFIX_PATH), DEPS_DIR (a folder
#     holding `dpkg -x` of Debian's libtomlplusplus-dev libtomlplusplus3 libstb-dev libstb0:
#     DEPS_DIR/usr goes into CMAKE_PREFIX_PATH and its libraries into LD_LIBRARY_PATH),
#     FMT_FIX (auto: where PyTorch's headers bundle another fmt than /usr/include/fmt, the system
#     fmt is copied into a folder put first with -I, so spdlog sees the fmt it was built for;
#     0: off, 1: always), CXX_FLAGS_EXTRA (more compile flags, e.g. -I<dir>; these and the fmt
#     folder become CMAKE_CXX_FLAGS, so do not set CMAKE_CXX_FLAGS in CMAKE_EXTRA)
#   FASHION_DIR (/usr/share/datasets/fashion-mnist), FASHION_TRAIN (30000; 0: all 60000),
#   FASHION_VAL (5000; 0: all), N_IMAGES (12000), IMAGENET_CLASSES (100)
#   EPOCHS (2), OURS_PRECISION (bf16), OURS_CUDA_GRAPHS (true): passed as --precision and
#     --cuda_graphs only where `scouter keys` lists those keys; OURS_EXTRA (more `--key value`)
#   MPIRUN ("mpirun [--allow-run-as-root] --bind-to none -np 1"; empty: run directly)
#   NCCL (1: the NCCL row; 0 skips it; always skipped with DEVICE=cpu)
#   PUB_WARMUP (10), PUB_STEPS (30), CASES (r18_slot,r18_fc,resnest,nccl)
#   OURS_TIMEOUT (300 s per training run), PUB_TIMEOUT (240 s per published case),
#   BUILD_TIMEOUT (900 s), SMOKE (0; 1: tiny sizes, to check the script on a CPU)
set -euo pipefail
PUBLISHED_DIR=${1:-}
if [ -z "$PUBLISHED_DIR" ]; then
  echo "usage: scripts/bench_gpu.sh PUBLISHED_DIR (a checkout of github.com/wbw520/scouter)" >&2
  exit 2
fi
if [ ! -f "$PUBLISHED_DIR/sloter/slot_model.py" ]; then
  echo "bench_gpu.sh: '$PUBLISHED_DIR' holds no sloter/slot_model.py (expected a checkout of wbw520/scouter)" >&2
  exit 2
fi
PUBLISHED_DIR=$(cd "$PUBLISHED_DIR" && pwd)
# Paths the caller gave relative to its own folder stay valid after the cd below.
absolute() { case "$1" in /*|"") echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
for v in WORK BUILD FASHION_DIR DEPS_DIR SCOUTER_BIN OUT; do
  if [ -n "${!v:-}" ]; then printf -v "$v" '%s' "$(absolute "${!v}")"; fi
done
cd "$(dirname "$0")/.."
ROOT=$(pwd)

WORK=${WORK:-/tmp/scouter_bench}
PARTS=${PARTS:-build,prep,ours,published}
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-0}
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  if ! python3 -c 'import torch' 2>/dev/null && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    PYTHON=/usr/bin/python3
  fi
fi
BUILD=${BUILD:-$WORK/build}
FASHION_DIR=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
EPOCHS=${EPOCHS:-2}
OURS_PRECISION=${OURS_PRECISION:-bf16}
OURS_CUDA_GRAPHS=${OURS_CUDA_GRAPHS:-true}
OURS_EXTRA=${OURS_EXTRA:-}
NCCL=${NCCL:-1}
CASES=${CASES:-r18_slot,r18_fc,resnest,nccl}
OURS_TIMEOUT=${OURS_TIMEOUT:-300}
PUB_TIMEOUT=${PUB_TIMEOUT:-240}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-900}
if [ "$SMOKE" = 1 ]; then  # tiny: checks the plumbing, not the speed
  FASHION_TRAIN=${FASHION_TRAIN:-64}; FASHION_VAL=${FASHION_VAL:-16}
  N_IMAGES=${N_IMAGES:-40}; IMAGENET_CLASSES=${IMAGENET_CLASSES:-4}
  B_R18=${B_R18:-4}; B_RESNEST=${B_RESNEST:-4}
  PUB_WARMUP=${PUB_WARMUP:-1}; PUB_STEPS=${PUB_STEPS:-2}
else
  FASHION_TRAIN=${FASHION_TRAIN:-30000}; FASHION_VAL=${FASHION_VAL:-5000}
  N_IMAGES=${N_IMAGES:-12000}; IMAGENET_CLASSES=${IMAGENET_CLASSES:-100}
  B_R18=${B_R18:-64}; B_RESNEST=${B_RESNEST:-70}
  PUB_WARMUP=${PUB_WARMUP:-10}; PUB_STEPS=${PUB_STEPS:-30}
fi
if [ -z "${MPIRUN+set}" ]; then
  if command -v mpirun > /dev/null; then
    MPIRUN="mpirun $([ "$(id -u)" = 0 ] && echo --allow-run-as-root) --bind-to none -np 1"
  else
    MPIRUN=""
  fi
fi

LOGS=$WORK/logs
RES=$WORK/results  # one small file per value: <case>.<field>
rm -rf "$LOGS"  # this call's logs only
mkdir -p "$LOGS" "$RES" "$WORK/runs" "$WORK/data"
rm -f "$RES"/* "$WORK/table.md"
has_part() { [[ ",$PARTS," == *",$1,"* ]]; }
has_case() { [[ ",$CASES," == *",$1,"* ]]; }
say() { echo "bench_gpu.sh: $*" >&2; echo "$(date -u +%FT%TZ) $*" >> "$LOGS/steps.txt"; }
put() { printf '%s\n' "$2" > "$RES/$1"; }
get() { cat "$RES/$1" 2>/dev/null || echo "${2:-}"; }

SAMPLER_PID=""
finish() {
  if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT/bench_gpu_logs"
    cp -r "$LOGS"/. "$OUT/bench_gpu_logs/" 2>/dev/null || true
    if [ -f "$WORK/table.md" ]; then cp "$WORK/table.md" "$OUT/bench_gpu_table.md" || true; fi
  fi
}
trap finish EXIT

if [ -n "${DEPS_DIR:-}" ]; then
  DEPS_DIR=$(cd "$DEPS_DIR" && pwd)
  export LD_LIBRARY_PATH="$DEPS_DIR/usr/lib/x86_64-linux-gnu:$DEPS_DIR/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# ---------------------------------------------------------------- build
BIN=${SCOUTER_BIN:-$BUILD/launcher/scouter}
if [ -n "${SCOUTER_BIN:-}" ]; then
  say "using $SCOUTER_BIN (no build)"
elif has_part build; then
  say "building the scouter target into $BUILD (log: $LOGS/build.log)"
  torch_prefix=$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  prefix="$torch_prefix${DEPS_DIR:+;$DEPS_DIR/usr}${CMAKE_PREFIX_EXTRA:+;$CMAKE_PREFIX_EXTRA}"
  args=(-S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSCOUTER_BUILD_TESTS=OFF
        "-DCMAKE_PREFIX_PATH=$prefix")
  command -v ninja > /dev/null && args+=(-G Ninja)
  nccl_root=$("$PYTHON" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)
  [ -n "$nccl_root" ] && args+=("-DNCCL_ROOT=$nccl_root")
  torch_inc=$("$PYTHON" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))')
  fmt_version() { grep -rhs "define FMT_VERSION " "$1" | awk '{print $3}' | head -1; }
  fix=${FMT_FIX:-auto}
  if [ "$fix" = auto ]; then
    fix=0
    if [ -d "$torch_inc/fmt" ] && [ -d /usr/include/fmt ] &&
       [ "$(fmt_version "$torch_inc/fmt")" != "$(fmt_version /usr/include/fmt)" ]; then fix=1; fi
  fi
  if [ "$fix" = 1 ]; then
    mkdir -p "$BUILD/fmt-first"
    rm -rf "$BUILD/fmt-first/fmt" && cp -r /usr/include/fmt "$BUILD/fmt-first/fmt"
    CXX_FLAGS_EXTRA="-I$BUILD/fmt-first${CXX_FLAGS_EXTRA:+ $CXX_FLAGS_EXTRA}"
    say "FMT_FIX: system fmt $(fmt_version /usr/include/fmt) first on the include path (PyTorch bundles $(fmt_version "$torch_inc/fmt"))"
  fi
  [ -n "${CXX_FLAGS_EXTRA:-}" ] && args+=("-DCMAKE_CXX_FLAGS=$CXX_FLAGS_EXTRA")
  # shellcheck disable=SC2206
  args+=(${CMAKE_EXTRA:-})
  echo "cmake ${args[*]}" > "$LOGS/build.log"
  if timeout "$BUILD_TIMEOUT" cmake "${args[@]}" >> "$LOGS/build.log" 2>&1 &&
     timeout "$BUILD_TIMEOUT" cmake --build "$BUILD" --target scouter -j "$(nproc)" >> "$LOGS/build.log" 2>&1; then
    say "built: $(grep -m1 -o 'NCCL gradient backend: [a-z]*' "$LOGS/build.log" || echo 'NCCL line not found')"
  else
    say "BUILD FAILED (tail of $LOGS/build.log below; toml++/stb missing? set DEPS_DIR; fmt clash? FMT_FIX=1)"
    tail -20 "$LOGS/build.log" >&2
  fi
fi
HAVE_BIN=0
[ -x "$BIN" ] && HAVE_BIN=1
[ "$HAVE_BIN" = 1 ] || say "no scouter binary at $BIN: our rows will say FAILED"

# ---------------------------------------------------------------- prep
FSRC=$WORK/fashion-src-$FASHION_TRAIN-$FASHION_VAL
FDATA=$WORK/data/fashion-$FASHION_TRAIN-$FASHION_VAL
ISRC=$WORK/imagenet-src-$N_IMAGES-$IMAGENET_CLASSES
IDATA=$WORK/data/imagenet-$N_IMAGES-$IMAGENET_CLASSES
if has_part prep && [ "$HAVE_BIN" = 1 ]; then
  say "prep: Fashion-MNIST from $FASHION_DIR (train $FASHION_TRAIN, val $FASHION_VAL; 0 = all)"
  if "$PYTHON" - "$FASHION_DIR" "$FSRC" "$FASHION_TRAIN" "$FASHION_VAL" > "$LOGS/prep_fashion.log" 2>&1 <<'PY' &&
"""The first N images and labels of each gzipped IDX split (headers rewritten with the count)."""
import gzip, os, struct, sys
src, dst, n_train, n_val = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(dst, exist_ok=True)
for split, n in (("train", n_train), ("t10k", n_val)):
    for kind, dims in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
        name = f"{split}-{kind}"
        path = next((os.path.join(src, name + s) for s in (".gz", "") if os.path.exists(os.path.join(src, name + s))), None)
        if path is None:
            sys.exit(f"no {name}(.gz) in {src}")
        data = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
        head = list(struct.unpack(">%dI" % (dims + 1), data[:4 * (dims + 1)]))
        count = head[1] if n <= 0 else min(n, head[1])
        item = 1
        for d in head[2:]:
            item *= d
        body = data[4 * (dims + 1): 4 * (dims + 1) + count * item]
        head[1] = count
        out = os.path.join(dst, name + ".gz")
        new = struct.pack(">%dI" % (dims + 1), *head) + body
        if os.path.exists(out) and gzip.open(out).read() == new:
            continue
        with gzip.open(out + ".tmp", "wb", compresslevel=1) as f:
            f.write(new)
        os.replace(out + ".tmp", out)
        print(f"{out}: {count} items")
PY
     "$BIN" prep FashionMNIST --src "$FSRC" --out "$FDATA" >> "$LOGS/prep_fashion.log" 2>&1; then
    say "prep: Fashion-MNIST shards in $FDATA"
  else
    say "prep: Fashion-MNIST FAILED (see $LOGS/prep_fashion.log)"
  fi
  say "prep: synthetic ImageNet, $N_IMAGES train images, $IMAGENET_CLASSES classes"
  if "$PYTHON" scripts/make_imagenet_layout.py "$ISRC" --images "$N_IMAGES" \
       --num_classes "$IMAGENET_CLASSES" > "$LOGS/prep_imagenet.log" 2>&1 &&
     "$BIN" prep ImageNet --src "$ISRC" --out "$IDATA" --num_classes "$IMAGENET_CLASSES" \
       --img_size 260 >> "$LOGS/prep_imagenet.log" 2>&1; then
    say "prep: ImageNet shards in $IDATA"
  else
    say "prep: ImageNet FAILED (see $LOGS/prep_imagenet.log)"
  fi
fi

# ---------------------------------------------------------------- ours
R18=(--model resnet18 --img_size 260 --num_classes 10 --batch_size "$B_R18")
SLOT_MNIST=(--use_slot true --loss_status 1 --slots_per_class 1 --power 1 --to_k_layer 1 --lambda_value 1)
SLOT_IMAGENET=(--use_slot true --loss_status 1 --slots_per_class 1 --power 2 --to_k_layer 3 --lambda_value 1)
FASHION=(--dataset FashionMNIST --dataset_dir "$FDATA")
IMAGENET=(--dataset ImageNet --dataset_dir "$IDATA" --model resnest26d --img_size 260
          --num_classes "$IMAGENET_CLASSES" --batch_size "$B_RESNEST")

OURS_FLAGS=()
if [ "$HAVE_BIN" = 1 ]; then
  keys=$("$BIN" keys 2>/dev/null || true)
  # `scouter keys` lists one key a line: "  name   default   meaning"
  if grep -qE '^[[:space:]]*precision[[:space:]]' <<< "$keys"; then OURS_FLAGS+=(--precision "$OURS_PRECISION"); fi
  if grep -qE '^[[:space:]]*cuda_graphs[[:space:]]' <<< "$keys"; then OURS_FLAGS+=(--cuda_graphs "$OURS_CUDA_GRAPHS"); fi
fi
# shellcheck disable=SC2206
OURS_FLAGS+=($OURS_EXTRA)

# summarize RUN_DIR GPU_SAMPLES -> "<last epoch img/s> <busy %> <scope>" (busy "-" without samples)
summarize() {
  "$PYTHON" - "$1/metrics.jsonl" "$2" <<'PY'
import calendar, json, sys, time
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
last = recs[-1]
samples = []
try:
    for line in open(sys.argv[2]):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[1].replace(".", "").isdigit():
            continue
        stamp, frac = (parts[0].split(".") + ["0"])[:2]
        t = time.mktime(time.strptime(stamp, "%Y/%m/%d %H:%M:%S")) + float("0." + frac)
        samples.append((t, float(parts[1])))
except OSError:
    pass
# "time" is written (UTC, whole seconds) right after the epoch's evaluation.
end = calendar.timegm(time.strptime(last["time"], "%Y-%m-%dT%H:%M:%SZ")) + 0.5 - last["eval_time_s"]
window = [s for t, s in samples if end - last["train_time_s"] + 0.5 <= t <= end - 0.5]
if len(window) >= 5:
    busy, scope = sum(window) / len(window), "last-epoch"
elif samples:
    busy, scope = sum(s for _, s in samples) / len(samples), "run"
else:
    busy, scope = None, "-"
print(f"{last['images_per_s']:.1f} {'-' if busy is None else f'{busy:.0f}'} {scope}")
PY
}

# ours CASE DATA_DIR ARGS...: one training run; values into RES/CASE.ours, .busy, .scope
ours() {
  local case=$1 data=$2 run=$WORK/runs/$1 log=$LOGS/ours_$1.log gpu=$LOGS/gpu_$1.csv
  shift 2
  if [ "$HAVE_BIN" != 1 ] || [ ! -d "$data" ]; then
    say "ours $case: FAILED before starting (no binary or no data in $data)"
    put "$case.ours" FAILED
    return 0
  fi
  rm -rf "$run"
  SAMPLER_PID=""
  if command -v nvidia-smi > /dev/null && [ "$DEVICE" != cpu ]; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader,nounits -lms 200 > "$gpu" 2>&1 &
    SAMPLER_PID=$!
  fi
  say "ours $case: $MPIRUN scouter train $* ${OURS_FLAGS[*]}"
  # shellcheck disable=SC2086
  if timeout "$OURS_TIMEOUT" $MPIRUN "$BIN" train --output_dir "$run" --epochs "$EPOCHS" \
       --device "$DEVICE" --vis false "$@" "${OURS_FLAGS[@]}" > "$log" 2>&1 &&
     [ -s "$run/metrics.jsonl" ]; then
    local s
    s=$(summarize "$run" "$gpu" 2>> "$log" || echo "FAILED - -")
    put "$case.ours" "${s%% *}"
    put "$case.busy" "$(cut -d' ' -f2 <<< "$s")"
    put "$case.scope" "$(cut -d' ' -f3 <<< "$s")"
    cp "$run/metrics.jsonl" "$LOGS/metrics_$case.jsonl"
    say "ours $case: $(get "$case.ours") img/s (last of $EPOCHS epochs), GPU busy $(get "$case.busy") % ($(get "$case.scope"))"
  else
    put "$case.ours" FAILED
    say "ours $case: FAILED (see $log)"
    tail -5 "$log" >&2 || true
  fi
  if [ -n "$SAMPLER_PID" ]; then
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
  fi
}

if has_part ours; then
  has_case r18_slot && ours r18_slot "$FDATA" "${FASHION[@]}" "${R18[@]}" "${SLOT_MNIST[@]}" --grad_sync none
  has_case r18_fc && ours r18_fc "$FDATA" "${FASHION[@]}" "${R18[@]}" --use_slot false --grad_sync none
  has_case resnest && ours resnest "$IDATA" "${IMAGENET[@]}" "${SLOT_IMAGENET[@]}" --grad_sync none
  if has_case nccl; then
    if [ "$DEVICE" = cpu ] || [ "$NCCL" != 1 ]; then
      say "ours nccl: skipped (DEVICE=$DEVICE, NCCL=$NCCL)"
      put nccl.ours skipped
    else
      ours nccl "$FDATA" "${FASHION[@]}" "${R18[@]}" "${SLOT_MNIST[@]}" --grad_sync nccl
    fi
  fi
fi

# ---------------------------------------------------------------- published
# published CASE ARGS...: as_published and tuned img/s into RES/CASE.pub, RES/CASE.tuned
published() {
  local case=$1 log=$LOGS/published_$1.log
  shift
  say "published $case: published_bench.py $*"
  timeout "$PUB_TIMEOUT" "$PYTHON" scripts/published_bench.py "$PUBLISHED_DIR" --case "$case" \
    --device "$DEVICE" --variants as_published,tuned --warmup "$PUB_WARMUP" --steps "$PUB_STEPS" \
    "$@" > "$log" 2>&1 || say "published $case: exit status $? (see $log)"
  local v
  for v in as_published tuned; do
    local ips
    ips=$(awk -F' [|] ' -v v="$v" '$1 == "published" && $3 == v {print $5}' "$log")
    [ -n "$ips" ] || ips=FAILED
    put "$case.$([ $v = tuned ] && echo tuned || echo pub)" "$ips"
  done
  say "published $case: as published $(get "$case.pub") img/s, tuned $(get "$case.tuned") img/s"
}

if has_part published; then
  CPU_THREADS=()
  [ "$DEVICE" = cpu ] && CPU_THREADS=(--threads "$(nproc)")
  P_MNIST=(--in_chans 1 --img_size 260 --num_classes 10 --batch "$B_R18" --model resnet18 "${CPU_THREADS[@]}")
  if has_case r18_slot || has_case nccl; then
    published r18_slot "${P_MNIST[@]}" --use_slot true --loss_status 1 --slots_per_class 1 \
      --power 1 --to_k_layer 1 --lambda_value 1
  fi
  has_case r18_fc && published r18_fc "${P_MNIST[@]}" --use_slot false
  has_case resnest && published resnest --model resnest26d --in_chans 3 --img_size 260 \
    --num_classes "$IMAGENET_CLASSES" --batch "$B_RESNEST" --use_slot true --loss_status 1 \
    --slots_per_class 1 --power 2 --to_k_layer 3 --lambda_value 1 --channel 2048 "${CPU_THREADS[@]}"
fi

# ---------------------------------------------------------------- table
if command -v nvidia-smi > /dev/null; then
  GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
else
  GPU_NAME="no nvidia-smi ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))"
fi
TORCH_VERSION=$("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?')
OUR_VERSION=$([ "$HAVE_BIN" = 1 ] && "$BIN" version 2>/dev/null | head -1 || echo '?')
# row PUB_CASE OURS_CASE LABEL BATCH NOTE: one table row
row() {
  "$PYTHON" - "$(get "$1.pub")" "$(get "$1.tuned")" "$(get "$2.ours")" "$(get "$2.busy" -)" \
    "$(get "$2.scope" -)" "$3" "$4" "$5" <<'PY'
import sys
pub, tuned, ours, busy, scope, label, batch, note = sys.argv[1:9]
def num(v):
    try:
        return float(v)
    except ValueError:
        return None
def cell(v):
    if not v:
        return "–"
    x = num(v)
    return v if x is None else (f"{x:.0f}" if x >= 100 else f"{x:.3g}")
def ratio(a, b):
    return f"{num(a) / num(b):.2f}" if num(a) and num(b) else "–"
b = f"{busy}{' (run)' if scope == 'run' else ''}" if busy not in ("", "-") else "–"
print(f"| {label} | {batch} | {cell(pub)} | {cell(tuned)} | {cell(ours)} | {ratio(ours, pub)} | "
      f"{ratio(ours, tuned)} | {b} | {note} |")
PY
}
{
  echo "### scouter vs published SCOUTER: $GPU_NAME, $(date -u +%F)"
  echo
  echo "Published: PyTorch $TORCH_VERSION, synthetic batch on the device, $PUB_WARMUP warm-up +" \
    "$PUB_STEPS timed steps (median); tuned = bf16 autocast + channels_last + cuDNN autotune." \
    "Ours ($OUR_VERSION): \`scouter train\` end to end, images_per_s of epoch $EPOCHS of $EPOCHS" \
    "(data loading included), flags: ${OURS_FLAGS[*]:-none}, launcher: ${MPIRUN:-none}." \
    "GPU busy: mean nvidia-smi utilization during our last epoch's training ((run): whole run)."
  echo
  echo "| case | batch | published img/s | published tuned img/s | ours img/s | ours/published | ours/tuned | GPU busy % (ours) | note |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  has_case r18_slot && row r18_slot r18_slot "SCOUTER+ resnet18 1x260 (Fashion-MNIST)" "$B_R18" ""
  has_case r18_fc && row r18_fc r18_fc "FC resnet18 1x260 (Fashion-MNIST)" "$B_R18" ""
  has_case resnest && row resnest resnest "SCOUTER+ resnest26d 3x260, $IMAGENET_CLASSES classes (synthetic ImageNet)" "$B_RESNEST" ""
  if has_case nccl; then
    note=$("$PYTHON" -c '
import sys
a, b = sys.argv[1], sys.argv[2]
try:
    print(f"1 rank: nccl/none = {float(a) / float(b):.3f}")
except ValueError:
    print(f"1 rank: nccl {a}, none {b}")' "$(get nccl.ours FAILED)" "$(get r18_slot.ours FAILED)")
    row r18_slot nccl "SCOUTER+ resnet18 1x260, --grad_sync nccl" "$B_R18" "$note"
  fi
} > "$WORK/table.md"
echo
cat "$WORK/table.md"
