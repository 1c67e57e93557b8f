#!/usr/bin/env bash
# The short GPU check after a fix (about 4 minutes on one H100, 16 cores): scripts/gpu_check.sh's
# build of gpu_tests, mpi_tests, scouter and make_toy_data only, the GPU tests (1 rank, then
# GpuSync with 2 ranks on the one GPU), mpi_tests with 1 rank, and the toy trainings (1 rank NCCL
# with the CUDA graph, fp32 and bf16; 2 ranks sharing the GPU over MPI). No benchmark. Prints a
# few lines per part (failures with their Expected/actual lines); full logs go to
# $OUT/recheck_logs.tgz.
#   scripts/gpu_recheck.sh DEPS_ROOT
# DEPS_ROOT: as for scripts/gpu_check.sh (`dpkg -x` of Debian's toml++ and stb packages).
# Two ranks sharing the GPU with NCCL are not tried: NCCL refuses two ranks on one device
# (docs/gpu.md).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
DEPS=$(cd "${1:?DEPS_ROOT}" && pwd)
OUT=${OUT:-/tmp/gpu_recheck_out}
LOG=/tmp/gpu_recheck_logs
mkdir -p "$OUT" "$LOG"
trap 'tar -czf "$OUT/recheck_logs.tgz" -C /tmp gpu_recheck_logs 2>/dev/null' EXIT
BUILD=/tmp/scouter-build
T0=$(date +%s)
say() { echo "== [$(( $(date +%s) - T0 )) s] $*"; }
MPIRUN="mpirun --allow-run-as-root --oversubscribe --bind-to none"
# Test output without colour codes, cut to 240 characters a line.
clean() { sed -e 's/\x1b\[[0-9;]*m//g' | cut -c1-240; }

say "machine: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)," \
    "$(git log -1 --format='%h %s' 2>/dev/null | cut -c1-80)"
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
NCCL_ROOT=$(python3 -c 'import nvidia.nccl as n; print(list(n.__path__)[0])')
export LD_LIBRARY_PATH="$NCCL_ROOT/lib:$DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"

say "configure + build (gpu_tests mpi_tests scouter make_toy_data)"
if ! cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
    -DNCCL_ROOT="$NCCL_ROOT" -DTOMLPLUSPLUS_INCLUDE_DIR="$DEPS/usr/include" \
    -DSTB_INCLUDE_DIR="$DEPS/usr/include" > "$LOG/configure.log" 2>&1; then
  tail -30 "$LOG/configure.log" | cut -c1-240; exit 1
fi
grep -E "NCCL gradient backend" "$LOG/configure.log"
timeout 420 cmake --build "$BUILD" -j "$(nproc)" --target gpu_tests mpi_tests scouter make_toy_data \
  -- -k 0 > "$LOG/build.log" 2>&1
echo "build exit $?"
grep -E " error|FAILED:" "$LOG/build.log" | cut -c1-300 | head -20
B=$BUILD
[ -x "$B/launcher/scouter" ] || { say "no scouter binary; stopping"; exit 1; }

say "gpu_tests, 1 rank"
if [ -x "$B/tests/gpu_tests" ]; then
  timeout 240 $MPIRUN -np 1 "$B/tests/gpu_tests" > "$LOG/gpu_tests_np1.log" 2>&1
  echo "exit $?; $(grep -c 'Warning' "$LOG/gpu_tests_np1.log") LibTorch warning lines, first:"
  grep -m1 'Warning' "$LOG/gpu_tests_np1.log" | cut -c1-240
  clean < "$LOG/gpu_tests_np1.log" | grep -E "^\[ +(graph|bf16|input) |\[ +(OK|FAILED|PASSED|SKIPPED) +\]"
  clean < "$LOG/gpu_tests_np1.log" | grep -A4 "Failure$" | grep -v "^--$" | head -40
fi

say "gpu_tests GpuSync.*, 2 ranks sharing the GPU"
if [ -x "$B/tests/gpu_tests" ]; then
  timeout 120 $MPIRUN -np 2 "$B/tests/gpu_tests" --gtest_filter='GpuSync.*' > "$LOG/gpu_tests_np2.log" 2>&1
  echo "exit $?"
  clean < "$LOG/gpu_tests_np2.log" | grep -E "\[ +(OK|FAILED|PASSED|SKIPPED) +\]"
  clean < "$LOG/gpu_tests_np2.log" | grep -A4 "Failure$" | grep -v "^--$" | head -40
fi

say "mpi_tests, 1 rank (NCCL communicator, gradient buckets)"
if [ -x "$B/tests/mpi_tests" ]; then
  timeout 120 $MPIRUN -np 1 "$B/tests/mpi_tests" > "$LOG/mpi_tests_np1.log" 2>&1
  echo "exit $?"
  clean < "$LOG/mpi_tests_np1.log" | grep -E "\[ +(FAILED|PASSED|SKIPPED) +\]"
  clean < "$LOG/mpi_tests_np1.log" | grep -A4 "Failure$" | grep -v "^--$" | head -20
fi

say "toy trainings (smallcnn, 2 epochs of 1024 images)"
TOY=/tmp/toy_recheck; rm -rf $TOY
"$B/tests/make_toy_data" $TOY/data > "$LOG/make_toy_data.log" 2>&1 || tail -3 "$LOG/make_toy_data.log"
# ranks grad_sync precision batch-per-rank
for spec in "1 nccl fp32 32" "1 nccl bf16 32" "2 mpi fp32 16"; do
  set -- $spec
  name="np$1_$2_$3"
  timeout 120 $MPIRUN -np "$1" "$B/launcher/scouter" train --dataset_dir $TOY/data --output_dir $TOY/run_$name \
    --model smallcnn --num_classes 4 --img_size 0 --batch_size "$4" --epochs 2 --device cuda \
    --grad_sync "$2" --precision "$3" --threads 2 > "$LOG/toy_$name.log" 2>&1
  echo "-- ranks $1 grad_sync $2 $3: exit $?"
  grep -E "\] steps: |captured as a CUDA graph|epoch 2/2: |\[error\]" "$LOG/toy_$name.log" \
    | sed -e 's/^\[[0-9: .-]*\] //' | cut -c1-240 | head -6
  grep -E "CUDA error|NCCL call failed|Warning: The AccumulateGrad" "$LOG/toy_$name.log" | grep -v "\[error\]" \
    | cut -c1-240 | head -2
done
say "done"
