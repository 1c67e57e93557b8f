# Sourced by scripts/container_check.sh and `scripts/test.sh --container`: the host's container
# tools, the Debian 12 base image, and how podman runs on this machine (docs/container.md).
#   container_host_packages      podman, runc, mmdebstrap from Debian's archive (root or sudo)
#   container_podman ROOTFUL     PODMAN_BASE: `podman`; `sudo podman` when ROOTFUL is 1 and we are
#                                not root (CI: privileged containers need rootful podman)
#   container_base_image TAG FRESH
#                                BASE_IMAGE=TAG, a Debian 12 image, kept when present unless FRESH
#                                is 1: pulled from docker.io where a registry answers, else built
#                                from Debian's archive (mmdebstrap, then podman import)
#   container_mode               PODMAN (the command to use), BUILD_FLAGS and PODMAN_MODE: podman's
#                                defaults where `podman run --rm BASE true` works, else runc,
#                                cgroupfs and container/containers.conf
#   container_source_version     the version string the image's build names

CONTAINER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

container_host_packages() {
  local p missing=()
  for p in podman runc mmdebstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "container: installing ${missing[*]} (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap >/dev/null
}

container_podman() {
  SUDO_CMD=()
  [ "$1" = 1 ] && [ "$(id -u)" -ne 0 ] && SUDO_CMD=(sudo)
  PODMAN_BASE=("${SUDO_CMD[@]}" podman)
}

container_base_image() {
  local old="" dir
  BASE_IMAGE=$1
  if "${PODMAN_BASE[@]}" image exists "$BASE_IMAGE"; then
    if [ "$2" != 1 ]; then echo "base image: $BASE_IMAGE (already here)"; return 0; fi
    old=$("${PODMAN_BASE[@]}" image inspect --format '{{.Id}}' "$BASE_IMAGE")
  fi
  if timeout 300 "${PODMAN_BASE[@]}" pull -q docker.io/library/debian:12 >/dev/null 2>&1; then
    "${PODMAN_BASE[@]}" tag docker.io/library/debian:12 "$BASE_IMAGE"
    echo "base image: $BASE_IMAGE = docker.io/library/debian:12 (pulled)"
  else
    dir=$(mktemp -d)
    as_root mmdebstrap --quiet --variant=minbase --mode=root bookworm "$dir/base.tar" \
      || { as_root rm -rf "$dir"; echo "container: mmdebstrap failed (is Debian's archive reachable?)" >&2; return 1; }
    "${PODMAN_BASE[@]}" import -q "$dir/base.tar" "$BASE_IMAGE" >/dev/null
    as_root rm -rf "$dir"
    echo "base image: $BASE_IMAGE from Debian's archive (mmdebstrap --variant=minbase bookworm; no image registry answered)"
  fi
  # The image it replaces, unless something still uses it.
  [ -n "$old" ] && "${PODMAN_BASE[@]}" rmi "$old" >/dev/null 2>&1 || true
}

container_mode() {
  local err fallback
  if err=$("${PODMAN_BASE[@]}" run --rm "$BASE_IMAGE" true 2>&1); then
    PODMAN=("${PODMAN_BASE[@]}") BUILD_FLAGS=() PODMAN_MODE="podman's defaults"
    return 0
  fi
  fallback=("${SUDO_CMD[@]}" env "CONTAINERS_CONF=$CONTAINER_DIR/containers.conf" podman --runtime runc --cgroup-manager cgroupfs)
  if ! "${fallback[@]}" run --rm "$BASE_IMAGE" true; then
    echo "container: podman cannot run a container here, with its defaults ($(echo "$err" | tail -1)) or with runc, cgroupfs and container/containers.conf (above)" >&2
    return 1
  fi
  PODMAN=("${fallback[@]}") BUILD_FLAGS=(--isolation chroot)
  PODMAN_MODE="runc, cgroupfs, container/containers.conf, builds with --isolation chroot (podman's defaults failed here: $(echo "$err" | tail -1))"
}

# The newest commit that changed what the Containerfile's build stage copies (so a commit to
# docs or tests keeps the cached build), with -dirty when those files differ from HEAD.
container_source_version() {
  local paths=(CMakeLists.txt cmake common datasets worker launcher slurm/job.sbatch.in scripts/build.sh scripts/install_deps.sh)
  local commit version
  commit=$(git log -1 --format=%H -- "${paths[@]}" 2>/dev/null) && [ -n "$commit" ] || { echo unknown; return 0; }
  version=$(git describe --always --abbrev=12 "$commit")
  git diff --quiet HEAD -- "${paths[@]}" || version+=-dirty
  echo "$version"
}
