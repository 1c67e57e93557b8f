#!/usr/bin/env bash
# The test command (README): installs what is needed, builds everything and runs the whole suite.
#   scripts/test.sh --container [CTEST_ARGS...]  CI (.ci/run): the same inside a fresh Debian 12
#       container made from nothing, so a missing install step fails here and not for a new user.
#       Installs podman, runc and mmdebstrap on this machine (apt-get), builds the base image
#       from Debian's archive (container/podman.sh), copies the checkout in (the files git
#       tracks or would track; nothing is written back) and runs `scripts/test.sh` there as
#       root, --privileged, --network host (the tests start Slurm daemons, network namespaces
#       and a bridge). Needs root or sudo.
#   scripts/test.sh [CTEST_ARGS...]              the same on this machine (root or sudo for
#       scripts/install_deps.sh; the Slurm and multi-node tests need root).
# CTEST_ARGS go to ctest after its defaults, e.g. to try one group while debugging:
#   scripts/test.sh --container -R 'SweepTest|slurm_sweep'
# After CTest, scripts/sanitize.sh: the sanitizer build (clang, build-asan/) with its unit tests and
# fuzz harnesses (skipped when CTEST_ARGS are given). The exit status is ctest's, else
# sanitize.sh's: 0 only when both passed.
set -euo pipefail
cd "$(dirname "$0")/.."

in_container() {
  source container/podman.sh
  local t0=$SECONDS status=0
  CI_CONTAINER="scouter-ci-$$"
  container_host_packages
  container_podman 1
  # Its own base image, made anew every run (localhost/debian:12 is the image build's, kept).
  container_base_image localhost/scouter-ci-base 1
  container_mode
  echo "test.sh --container: base image ready in $((SECONDS - t0)) s; podman: $PODMAN_MODE"
  trap '"${PODMAN[@]}" rm -f "$CI_CONTAINER" >/dev/null 2>&1 || true' EXIT
  # /dev/shm: Open MPI's shared memory between ranks (podman's default is 64 MB).
  checkout_tar | "${PODMAN[@]}" run --rm -i --name "$CI_CONTAINER" --privileged --network host --shm-size 4g \
    "$BASE_IMAGE" bash -c 'mkdir /scouter && cd /scouter && tar -x && exec scripts/test.sh "$@"' test.sh "$@" \
    || status=$?
  echo "test.sh --container: exit $status after $((SECONDS - t0)) s"
  return "$status"
}

# The checkout as git sees it: tracked and untracked files, not the ignored ones (build/, runs/).
checkout_tar() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf -
  else
    tar -cf - --exclude='./build*' --exclude=./runs --exclude=./data .
  fi
}

if [ "${1:-}" = "--container" ]; then
  shift
  in_container "$@"
  exit
fi
t0=$SECONDS
scripts/install_deps.sh
t1=$SECONDS
scripts/build.sh
t2=$SECONDS
status=0
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@") || status=$?
t3=$SECONDS
# Then the sanitizer and fuzzing step: common_tests and datasets_tests under ASan+UBSan, and
# every fuzz harness for 30 s (scripts/sanitize.sh). Skipped when CTEST_ARGS pick a subset.
sanitize="skipped (CTEST_ARGS given)" sanitize_status=0
if [ $# -eq 0 ]; then
  scripts/sanitize.sh || sanitize_status=$?
  sanitize="$((SECONDS - t3)) s, exit $sanitize_status"
fi
echo "test.sh: install $((t1 - t0)) s, build $((t2 - t1)) s, tests $((t3 - t2)) s; ctest exit $status;" \
  "sanitizers and fuzzing: $sanitize"
[ "$status" -ne 0 ] || status=$sanitize_status
exit "$status"
