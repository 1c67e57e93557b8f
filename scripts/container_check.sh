#!/usr/bin/env bash
# Builds the container image (container/Containerfile) and checks it against this machine's own
# build (docs/container.md):
#   1. the base image (container/podman.sh: docker.io's debian:12 where a registry answers, else
#      Debian 12 from Debian's archive with mmdebstrap), then the image localhost/scouter
#   2. inside it, as its non-root user, with a bind-mounted data folder and run folder:
#      `scouter version`, `scouter prep FashionMNIST` (Debian's dataset-fashion-mnist, bind-mounted
#      read-only), a one-epoch SCOUTER+ training and `scouter explain` of it
#   3. the same prep, training and explain with this machine's build (scripts/build.sh, the same
#      Debian packages, the same CPU and thread count), which must give the same shards (/images,
#      /labels), the same metrics.jsonl but for its wall-clock fields (images_per_s,
#      train_time_s, data_wait_s, eval_time_s, time), the same explanation metrics, and bitwise
#      the same final weights (h5diff of the last checkpoint's /model)
# Podman runs with its defaults where they work, else with runc, cgroupfs and
# container/containers.conf (it says which). Prints PASS/FAIL lines and the time of each phase;
# exits 1 on a FAIL. Removes its containers, and its work folder unless something failed; keeps
# the images (localhost/debian:12, localhost/scouter, localhost/scouter-build) unless --rmi.
#   scripts/container_check.sh [--fresh-base] [--rmi]
# As root podman runs rootful and the run folders are given to the image's user (uid 1000); as
# a user, rootless with --userns=keep-id. Installing packages needs root or sudo.
set -uo pipefail
cd "$(dirname "$0")/.."
source container/podman.sh

FRESH=0 RMI=0
for arg; do
  case $arg in
    --fresh-base) FRESH=1 ;;
    --rmi) RMI=1 ;;
    *) echo "container_check: unknown option '$arg' (valid: --fresh-base, --rmi)" >&2; exit 2 ;;
  esac
done
IMAGE=localhost/scouter:latest
BUILD_IMAGE=localhost/scouter-build:latest
FASHION=/usr/share/datasets/fashion-mnist
BIN=${BUILD_DIR:-build}/launcher/scouter
# The quickstart's SCOUTER+ head (experiments/fashion_mnist.toml), from scratch, one epoch.
TRAIN_ARGS="--dataset FashionMNIST --model smallcnn --num_classes 10 --img_size 0 --batch_size 64
  --seed 42 --use_slot true --loss_status 1 --slots_per_class 1 --power 1 --to_k_layer 1
  --lambda_value 1 --lr 3e-4 --epochs 1 --threads 2"
# metrics.jsonl's wall-clock fields: speed, durations, the time of day.
CLOCK_FIELDS="images_per_s train_time_s data_wait_s eval_time_s time"

T0=$SECONDS FAILED=0 TIMES=()
say() { echo "== [$((SECONDS - T0)) s] $*"; }
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
# Ends the check: the phases' times, the containers gone, the work folder kept on a failure.
finish() {
  "${PODMAN[@]:-podman}" rm -f "scouter-check-$$" >/dev/null 2>&1 || true
  [ ${#TIMES[@]} -gt 0 ] && printf '   %s\n' "phase times:" "${TIMES[@]}"
  if [ "$RMI" = 1 ] && [ -n "${PODMAN[*]:-}" ]; then
    "${PODMAN[@]}" rmi "$IMAGE" "$BUILD_IMAGE" "$BASE_IMAGE" >/dev/null 2>&1 || true
  fi
  if [ "$FAILED" -eq 0 ]; then
    [ -n "${WORK:-}" ] && as_root rm -rf "$WORK"
    echo "container_check: PASS ($((SECONDS - T0)) s)"
  else
    echo "container_check: FAIL, $FAILED check(s) failed ($((SECONDS - T0)) s); outputs kept in ${WORK:-nothing}"
    exit 1
  fi
}
trap finish EXIT
# timed NAME CMD...: runs CMD and records how long it took.
timed() {
  local name=$1 t=$SECONDS status=0
  shift
  "$@" || status=$?
  TIMES+=("$(printf '%-26s %4d s' "$name" $((SECONDS - t)))")
  return $status
}
fatal() { fail "$*"; exit 1; }

setup_host() {
  scripts/install_deps.sh >/dev/null && container_host_packages
}
say "packages on this machine (scripts/install_deps.sh; podman, runc, mmdebstrap)"
timed "host packages" setup_host || fatal "installing this machine's packages"
[ -d "$FASHION" ] || fatal "$FASHION missing (Debian's dataset-fashion-mnist)"

setup_podman() {
  container_podman 0 && container_base_image localhost/debian:12 "$FRESH" && container_mode
}
say "base image"
timed "base image" setup_podman || fatal "no base image, or podman cannot run it"
echo "podman: $PODMAN_MODE"
USERNS=()
if [ "$(id -u)" -ne 0 ]; then USERNS=(--userns=keep-id); echo "podman: rootless, --userns=keep-id"; fi

WORK=$(mktemp -d /tmp/scouter-container-check-XXXXXX)
build_image() {
  local version
  version=$(container_source_version)
  echo "building $IMAGE (version $version; log: $WORK/image_build.log)"
  "${PODMAN[@]}" build "${BUILD_FLAGS[@]}" --build-arg BASE="$BASE_IMAGE" --build-arg SCOUTER_VERSION="$version" \
      -f container/Containerfile -t "$IMAGE" . > "$WORK/image_build.log" 2>&1 &&
    "${PODMAN[@]}" build "${BUILD_FLAGS[@]}" --build-arg BASE="$BASE_IMAGE" --build-arg SCOUTER_VERSION="$version" \
      --target build -f container/Containerfile -t "$BUILD_IMAGE" . >> "$WORK/image_build.log" 2>&1
}
say "image"
timed "image build" build_image || { tail -30 "$WORK/image_build.log"; fatal "the image did not build"; }
size_mb() { echo $(( $("${PODMAN[@]}" image inspect --format '{{.Size}}' "$1") / 1000000 )); }
echo "image size: $IMAGE $(size_mb "$IMAGE") MB; its build stage (compilers, -dev packages, build tree) $BUILD_IMAGE $(size_mb "$BUILD_IMAGE") MB"

# In the container: the data and run folders are bind mounts, Fashion-MNIST's files read-only.
mkdir -p "$WORK"/container/{data,runs} "$WORK"/host/{data,runs}
in_image() {
  "${PODMAN[@]}" run --rm --name "scouter-check-$$" "${USERNS[@]}" --shm-size 1g \
    -v "$WORK/container/data:/work/data" -v "$WORK/container/runs:/work/runs" -v "$FASHION:/fashion-mnist:ro" \
    "$IMAGE" "$@"
}
uid=$("${PODMAN[@]}" run --rm "${USERNS[@]}" --entrypoint id "$IMAGE" -u)
[ "$(id -u)" -eq 0 ] && chown "$uid:$uid" "$WORK"/container/{data,runs}
[ -n "$uid" ] && [ "$uid" != 0 ] && pass "the image runs as a non-root user (uid $uid)" || fail "the image runs as uid '$uid'"

say "in the container: version, prep, train, explain"
out=$(in_image version) && echo "$out" | grep -q "^scouter " && pass "scouter version: $out" || fail "scouter version: $out"
timed "container prep" in_image prep FashionMNIST --src /fashion-mnist --out /work/data/fashion-mnist > "$WORK/container_prep.log" 2>&1 \
  && pass "scouter prep FashionMNIST in the container" || { tail -5 "$WORK/container_prep.log"; fail "scouter prep in the container"; }
timed "container train" in_image train $TRAIN_ARGS --dataset_dir /work/data/fashion-mnist --output_dir /work/runs/pos > "$WORK/container_train.log" 2>&1 \
  && pass "one epoch of SCOUTER+ in the container" || { tail -5 "$WORK/container_train.log"; fail "training in the container"; }
timed "container explain" in_image explain /work/runs/pos --images 100 > "$WORK/container_explain.log" 2>&1 \
  && [ -s "$WORK/container/runs/pos/explain/metrics.json" ] \
  && pass "scouter explain in the container" || { tail -5 "$WORK/container_explain.log"; fail "scouter explain in the container"; }

say "on this machine: build, prep, train, explain"
timed "host build" scripts/build.sh --target scouter > "$WORK/host_build.log" 2>&1 || { tail -20 "$WORK/host_build.log"; fatal "the host build failed"; }
timed "host prep" "$BIN" prep FashionMNIST --src "$FASHION" --out "$WORK/host/data/fashion-mnist" > "$WORK/host_prep.log" 2>&1 \
  || fail "scouter prep on this machine"
timed "host train" "$BIN" train $TRAIN_ARGS --dataset_dir "$WORK/host/data/fashion-mnist" --output_dir "$WORK/host/runs/pos" > "$WORK/host_train.log" 2>&1 \
  || { tail -5 "$WORK/host_train.log"; fail "training on this machine"; }
timed "host explain" "$BIN" explain "$WORK/host/runs/pos" --images 100 --dataset_dir "$WORK/host/data/fashion-mnist" > "$WORK/host_explain.log" 2>&1 \
  || { tail -5 "$WORK/host_explain.log"; fail "scouter explain on this machine"; }

say "compare"
same_shards=1
for f in "$WORK"/container/data/fashion-mnist/*.h5; do
  for d in /images /labels; do
    h5diff -q "$f" "$WORK/host/data/fashion-mnist/$(basename "$f")" "$d" "$d" >/dev/null 2>&1 || { same_shards=0; echo "differs: $(basename "$f") $d"; }
  done
done
[ "$same_shards" = 1 ] && pass "the same shards (/images, /labels of every file)" || fail "the container's shards differ from this machine's"
# What must agree: metrics.jsonl without its wall-clock fields, and explain/metrics.json's
# "methods" (the explanation metrics; its other fields are paths, the version and durations).
json_view() {
  /usr/bin/python3 - "$1" "$CLOCK_FIELDS" <<'PY'
import json, sys
path, clock = sys.argv[1], set(sys.argv[2].split())
if path.endswith(".jsonl"):
    for line in open(path):
        if line.strip():
            print(json.dumps({k: v for k, v in json.loads(line).items() if k not in clock}, sort_keys=True))
else:
    print(json.dumps(json.load(open(path))["methods"], sort_keys=True, indent=1))
PY
}
compare_json() {  # FILE (in the run folder) WHAT
  local c="$WORK/container/runs/pos/$1" h="$WORK/host/runs/pos/$1" diffs="$WORK/diff_$(basename "$1").txt"
  if [ -s "$c" ] && [ -s "$h" ] && diff <(json_view "$c") <(json_view "$h") > "$diffs"; then
    pass "the same $1 ($2)"
  else
    head -c 2000 "$diffs" 2>/dev/null
    fail "$1 differs between the container and this machine"
  fi
}
compare_json metrics.jsonl "ignoring its wall-clock fields $CLOCK_FIELDS"
compare_json explain/metrics.json "its explanation metrics"
echo "   the run's record: $(json_view "$WORK/container/runs/pos/metrics.jsonl" 2>/dev/null)"
last_checkpoint() { ls "$1"/checkpoints/epoch-*.h5 2>/dev/null | grep -v step | tail -1; }
ck=$(last_checkpoint "$WORK/container/runs/pos") hk=$(last_checkpoint "$WORK/host/runs/pos")
[ -n "$ck" ] && [ -n "$hk" ] && h5diff -q "$ck" "$hk" /model /model \
  && pass "bitwise the same final weights (h5diff /model of $(basename "$ck"))" \
  || fail "the final weights differ (h5diff /model of '$ck' and '$hk')"
# A difference in numbers is most often one in the libraries under them: show those that differ.
if [ "$FAILED" -gt 0 ]; then
  numeric="libtorch1.13 libopenblas0-openmp libdnnl2 libgomp1 libc6 libstdc++6 libhdf5-103-1 libopenmpi3"
  versions() { dpkg-query -W -f='${Package} ${Version}\n' $numeric 2>/dev/null | sed 's/:amd64//'; }
  diff <(versions) <("${PODMAN[@]}" run --rm --entrypoint dpkg-query "$IMAGE" -W -f='${Package} ${Version}\n' $numeric 2>/dev/null | sed 's/:amd64//') \
    | sed -n 's/^< /   this machine: /p; s/^> /   the image:    /p'
fi
