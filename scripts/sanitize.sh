#!/usr/bin/env bash
# The sanitizer and fuzzing step of the test command (scripts/test.sh runs it after CTest; docs/
# testing.md "Sanitizers and fuzzing"). Builds with Debian's clang into build-asan/ (never touches
# build/), then:
#   1. unit: common_tests and datasets_tests under AddressSanitizer, UBSan and LeakSanitizer;
#   2. fuzz: every libFuzzer harness of tests/fuzz/: first its committed regression inputs
#      (tests/fuzz/regression/<harness>/) once each, then fuzzing from its seeds
#      (tests/fuzz/corpus/<harness>/) for SECONDS, nproc harnesses at a time.
# Any sanitizer report, crash, leak, unexpected exception, hang (-timeout) or memory over
# -rss_limit_mb fails it; the exit status is 1 then, and each failure's log is printed.
#   scripts/sanitize.sh [--seconds N] [--unit | --fuzz] [HARNESS...]
#     --seconds N   fuzz each harness N seconds (default 30)
#     --unit/--fuzz only that part
#     HARNESS...    only these harnesses (names as in tests/fuzz/CMakeLists.txt: config, sweep,
#                   reference, idx, image, mat, shard, torch_file, safetensors, checkpoint)
#   ASAN_BUILD_DIR=DIR  build folder (default build-asan/)
# Run a harness longer by hand: docs/testing.md gives the command lines.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
SECONDS_EACH=30 DO_UNIT=1 DO_FUZZ=1 ONLY=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_EACH=$2; shift ;;
    --unit) DO_FUZZ=0 ;;
    --fuzz) DO_UNIT=0 ;;
    -*) echo "sanitize.sh: unknown option '$1' (valid: --seconds N, --unit, --fuzz)" >&2; exit 2 ;;
    *) ONLY+=("$1") ;;
  esac
  shift
done

t0=$SECONDS
# shellcheck disable=SC2086
configured=$(CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  -DSCOUTER_FUZZ=ON -DSCOUTER_USE_PCH=OFF) || { echo "$configured"; exit 1; }
targets=()
[ "$DO_UNIT" = 1 ] && targets+=(common_tests datasets_tests)
[ "$DO_FUZZ" = 1 ] && targets+=(fuzzers)
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${targets[@]}"
echo "sanitize.sh: build $((SECONDS - t0)) s"

# Report everything, stop at the first finding; LeakSanitizer suppressions for third-party
# libraries only (the file says which and why).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0
# Function names in stacks (the suppressions match them): llvm-14's symbolizer (install_deps.sh).
for s in /usr/lib/llvm-14/bin/llvm-symbolizer /usr/bin/llvm-symbolizer; do
  if [ -x "$s" ]; then export ASAN_SYMBOLIZER_PATH=$s; break; fi
done
[ -n "${ASAN_SYMBOLIZER_PATH:-}" ] || echo "sanitize.sh: no llvm-symbolizer (package llvm-14): stacks without names, suppressions by function name will not match" >&2
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$ROOT/tests/fuzz/lsan.supp:print_suppressions=0
LOGS=$BUILD_DIR/sanitize-logs
rm -rf "$LOGS" && mkdir -p "$LOGS"
failed=()

fail() {  # name log
  failed+=("$1")
  echo "---- $1 FAILED: last 60 lines of $2"
  tail -n 60 "$2"
  echo "----"
}

if [ "$DO_UNIT" = 1 ]; then
  t1=$SECONDS
  # Whole: no case needs excluding (the MPI and lock tests of common_tests run in-process).
  for t in common_tests datasets_tests; do
    # Fast unwinding (full stacks triple the time): libhdf5's leaks on the files the tests damage
    # on purpose are suppressed by the library's name (tests/fuzz/lsan.supp).
    if "$BUILD_DIR/tests/$t" --gtest_brief=1 >"$LOGS/$t.log" 2>&1; then
      echo "sanitize.sh: $t passed under ASan+UBSan ($(grep -Eo '[0-9]+ tests? from [0-9]+ test suites? ran' "$LOGS/$t.log" | head -1))"
    else
      fail "$t" "$LOGS/$t.log"
    fi
  done
  echo "sanitize.sh: unit tests $((SECONDS - t1)) s"
fi

# One harness: regression inputs once each, then SECONDS_EACH of fuzzing from the seeds into a
# scratch corpus (build-asan/fuzz/<name>/corpus; the committed seeds are only read).
fuzz_one() {
  local name=$1 bin=$BUILD_DIR/tests/fuzz/${name}_fuzz log=$LOGS/fuzz-$name.log
  local work=$BUILD_DIR/fuzz/$name reg=tests/fuzz/regression/$name seeds=tests/fuzz/corpus/$name
  rm -rf "$work/artifacts" && mkdir -p "$work/corpus" "$work/artifacts"
  local flags=(-rss_limit_mb=2048 -timeout=10 "-artifact_prefix=$work/artifacts/")
  local inputs=() status=0
  [ -d "$reg" ] && mapfile -t inputs < <(find "$reg" -type f ! -name '*.md' | sort)
  : >"$log"
  # Each regression input in its own run, so one that fails does not hide the others.
  for f in "${inputs[@]}"; do
    if ! "$bin" "${flags[@]}" "$f" >>"$log" 2>&1; then
      echo "sanitize.sh: regression input $f FAILED" >>"$log"
      status=1
    fi
  done
  "$bin" "${flags[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
    "$work/corpus" "$seeds" >>"$log" 2>&1 || status=1
  return "$status"
}
# Full allocation stacks for the harnesses: the suppressions name a library's function, which a
# fast (frame-pointer) unwind cannot see through libraries built without frame pointers.
export ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0

if [ "$DO_FUZZ" = 1 ]; then
  t1=$SECONDS
  mapfile -t harnesses <"$BUILD_DIR/tests/fuzz/fuzzers.txt"
  [ ${#ONLY[@]} -gt 0 ] && harnesses=("${ONLY[@]}")
  declare -A pid_of=()
  for name in "${harnesses[@]}"; do
    [ -x "$BUILD_DIR/tests/fuzz/${name}_fuzz" ] || { echo "sanitize.sh: no harness '$name'" >&2; exit 2; }
    while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n || true; done
    fuzz_one "$name" &
    pid_of[$name]=$!
  done
  for name in "${harnesses[@]}"; do
    log=$LOGS/fuzz-$name.log
    ok=1
    wait "${pid_of[$name]}" || ok=0
    # libFuzzer's last status line: runs, coverage (cov: edges, ft: features), corpus, speed.
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 | tr -s ' \t' ' ')
    if [ "$ok" = 1 ]; then
      echo "sanitize.sh: fuzz $name ok: $last"
    else
      fail "fuzz $name" "$log"
      regs=$(sed -n 's/^sanitize.sh: regression input \(.*\) FAILED$/\1/p' "$log" | xargs)
      echo "sanitize.sh: fuzz $name FAILED${regs:+ (regression inputs that failed: $regs)}; fuzzing: $last"
      ls "$BUILD_DIR/fuzz/$name/artifacts/" 2>/dev/null | sed "s|^|  input: $BUILD_DIR/fuzz/$name/artifacts/|"
    fi
  done
  echo "sanitize.sh: fuzzing $((SECONDS - t1)) s"
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize.sh: FAILED: ${failed[*]} (after $((SECONDS - t0)) s)"
  exit 1
fi
echo "sanitize.sh: all passed in $((SECONDS - t0)) s"
