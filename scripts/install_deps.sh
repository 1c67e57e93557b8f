#!/usr/bin/env bash
# Installs every Debian 12 package the project uses (build, tests, main job). Safe to re-run:
# does nothing when everything is already installed. Needs root (or sudo).
#   scripts/install_deps.sh             what building, testing and the main job need
#   scripts/install_deps.sh --fixtures  also the Python packages that regenerate the committed
#                                       reference fixtures (tests/tools/*.py); tests don't run them
#   scripts/install_deps.sh --mpich     also MPICH beside Open MPI (scripts/test_mpich.sh); the
#                                       default mpicc/mpirun stay Open MPI's (higher priority)
set -euo pipefail

PACKAGES=(
  build-essential cmake git pkg-config ca-certificates
  libtorch-dev                       # LibTorch 1.13 (CPU)
  libopenblas0-openmp                # BLAS for LibTorch: Debian's default reference BLAS makes
                                     # Linear/GRU ~10x slower (it becomes the system libblas.so.3)
  libopenmpi-dev openmpi-bin         # MPI launcher and CPU gradient averaging
  libhdf5-dev hdf5-tools             # shards and checkpoints (h5dump to inspect them)
  libtomlplusplus-dev                # config files
  libspdlog-dev libfmt-dev           # logging
  nlohmann-json3-dev                 # metrics.jsonl, summary.json
  libgtest-dev                       # tests
  libstb-dev zlib1g-dev libssl-dev   # PNG output, gzip IDX files, SHA-256
  libjpeg62-turbo-dev libpng-dev     # decoding ImageNet/CUB/Con-Text images (libjpeg-turbo is
                                     # what Debian's PIL decodes with: the same pixels)
  dataset-fashion-mnist              # the default dataset of the main job
  slurm-wlm munge                    # the local Slurm of the sweep tests (slurm/local_cluster.sh)
  chromium                           # headless check of `scouter report --html` pages (tests)
)
if [ "${1:-}" = "--fixtures" ]; then
  PACKAGES+=(python3-torch python3-h5py python3-numpy python3-pil python3-matplotlib)
fi
case " $* " in *" --mpich "*) PACKAGES+=(libmpich-dev mpich) ;; esac

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
