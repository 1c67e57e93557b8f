#!/usr/bin/env bash
# Installs every Debian 12 package the project uses (build, tests, main job). Safe to re-run:
# does nothing when everything is already installed. Needs root (or sudo).
#   scripts/install_deps.sh             what building, testing and the main job need (the test
#                                       suite's Python checks, Slurm and chromium included)
#   scripts/install_deps.sh --fixtures  also the Python packages that only the generators of the
#                                       committed reference fixtures use (tests/tools/make_*.py)
#   scripts/install_deps.sh --mpich     also MPICH beside Open MPI (scripts/test_mpich.sh); the
#                                       default mpicc/mpirun stay Open MPI's (higher priority)
#   scripts/install_deps.sh --build     only what building `scouter` needs (no tests, no data, no
#                                       Slurm, no Python): the build stage of container/Containerfile
#   scripts/install_deps.sh --runtime   only what running a built `scouter` needs: the shared
#                                       libraries it loads, mpirun for local sweeps, h5dump (the
#                                       final stage of container/Containerfile)
# --fixtures and --mpich add to any of the others.
set -euo pipefail

BUILD=(
  build-essential cmake git pkg-config ca-certificates
  libtorch-dev                       # LibTorch 1.13 (CPU)
  libopenblas0-openmp                # BLAS for LibTorch: Debian's default reference BLAS makes
                                     # Linear/GRU ~10x slower (it becomes the system libblas.so.3)
  libopenmpi-dev openmpi-bin         # MPI launcher and CPU gradient averaging
  libhdf5-dev hdf5-tools             # shards and checkpoints (h5dump to inspect them)
  libtomlplusplus-dev                # config files
  libspdlog-dev libfmt-dev           # logging
  nlohmann-json3-dev                 # metrics.jsonl, summary.json
  libstb-dev zlib1g-dev libssl-dev   # PNG output, gzip IDX files, SHA-256
  libjpeg62-turbo-dev libpng-dev     # decoding ImageNet/CUB/Con-Text images (libjpeg-turbo is
                                     # what Debian's PIL decodes with: the same pixels)
)
TESTS=(
  libgtest-dev                       # tests
  dataset-fashion-mnist              # the default dataset of the main job
  slurm-wlm munge                    # the local Slurm of the sweep tests (slurm/local_cluster.sh)
  iproute2                           # the multi-node cluster's namespaces and bridge (local_multinode.sh)
  procps                             # free, ps, pgrep in the test and cluster scripts
  xz-utils                           # the published checkpoints' fixtures are .pth.xz
  chromium                           # headless check of `scouter report --html` pages (tests)
  python3-torch python3-h5py python3-numpy  # docs/examples/*.py and tests/tools/check_export.py
  clang libclang-rt-14-dev           # the sanitizer and fuzzing step (scripts/sanitize.sh): clang 14,
                                     # its ASan/UBSan/libFuzzer runtimes (only recommended by clang)
  llvm-14                            # llvm-symbolizer: without it sanitizer stacks have no function
                                     # names, and the leak suppressions (tests/fuzz/lsan.supp) cannot match
)
FIXTURES=(python3-pil python3-matplotlib python3-scipy)
MPICH=(libmpich-dev mpich)
# The shared libraries `scouter` loads (checked: the Containerfile's final stage fails on any
# "not found" from ldd), Open MPI's launcher for local sweeps, h5dump for the run folders.
RUNTIME=(
  libtorch1.13 libopenblas0-openmp libopenmpi3 openmpi-bin libhdf5-103-1 libhdf5-cpp-103-1
  hdf5-tools libtomlplusplus3 libspdlog1.10 libfmt9 libstb0 zlib1g libssl3 libjpeg62-turbo
  libpng16-16
)

PACKAGES=("${BUILD[@]}" "${TESTS[@]}") EXTRA=()
for arg; do
  case $arg in
    --fixtures) EXTRA+=("${FIXTURES[@]}") ;;
    --mpich) EXTRA+=("${MPICH[@]}") ;;
    --build) PACKAGES=("${BUILD[@]}") ;;
    --runtime) PACKAGES=("${RUNTIME[@]}") ;;
    *) echo "install_deps: unknown option '$arg' (valid: --fixtures, --mpich, --build, --runtime)" >&2; exit 2 ;;
  esac
done
PACKAGES+=("${EXTRA[@]}")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
