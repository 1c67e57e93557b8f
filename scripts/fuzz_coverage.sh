#!/usr/bin/env bash
# Line coverage of each parser by its fuzz harness (not part of CI; docs/testing.md "Sanitizers
# and fuzzing"). Builds the harnesses with clang's source-based coverage into build-cov/, replays
# each harness's seeds and the corpus that scripts/sanitize.sh grew (build-asan/fuzz/<harness>/
# corpus, if any) once, and prints llvm-cov's report for the files that harness parses.
# Needs llvm-14 (llvm-profdata-14, llvm-cov-14) besides what scripts/install_deps.sh installs.
#   scripts/fuzz_coverage.sh [HARNESS...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD BUILD_DIR=build-cov
declare -A FILES=(
  [config]="common/config.cpp"
  [sweep]="common/sweep.cpp common/sweep_resources.cpp"
  [idx]="datasets/idx_file.cpp"
  [image]="datasets/image_decode.cpp"
  [mat]="datasets/mat_file.cpp datasets/imagenet_files.cpp"
  [shard]="datasets/shard_reader.cpp datasets/shard_format.cpp common/h5.cpp"
  [torch_file]="worker/model/torch_file.cpp"
  [safetensors]="worker/model/safetensors.cpp"
  [checkpoint]="worker/run/checkpoint.cpp common/h5.cpp"
)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(config sweep idx image mat shard torch_file safetensors checkpoint)

CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  "-DCMAKE_CXX_FLAGS=-fprofile-instr-generate -fcoverage-mapping" \
  -DCMAKE_EXE_LINKER_FLAGS=-fprofile-instr-generate \
  -DSCOUTER_FUZZ=ON -DSCOUTER_USE_PCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${harnesses[@]/%/_fuzz}"

export ASAN_OPTIONS=detect_leaks=0
out=$BUILD_DIR/coverage && rm -rf "$out" && mkdir -p "$out"
for h in "${harnesses[@]}"; do
  dirs=("tests/fuzz/corpus/$h")
  [ -d "build-asan/fuzz/$h/corpus" ] && dirs+=("build-asan/fuzz/$h/corpus")
  LLVM_PROFILE_FILE=$out/$h.profraw "$BUILD_DIR/tests/fuzz/${h}_fuzz" -runs=0 -timeout=10 \
    "${dirs[@]}" >"$out/$h.log" 2>&1 || echo "fuzz_coverage: $h failed on its corpus ($out/$h.log)"
  llvm-profdata-14 merge -sparse "$out/$h.profraw" -o "$out/$h.profdata"
  echo "== $h: $(grep -E 'DONE' "$out/$h.log" | tail -1 | grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+')"
  # shellcheck disable=SC2046
  llvm-cov-14 report "$BUILD_DIR/tests/fuzz/${h}_fuzz" -instr-profile="$out/$h.profdata" \
    $(for f in ${FILES[$h]}; do echo "$ROOT/$f"; done) |
    awk 'NR > 2 && !/^-/ { printf "  %-32s lines %5d, missed %5d: %s\n", $1, $8, $9, $10 }'
done
