#!/usr/bin/env bash
# Installs every system dependency of deltarl from Debian's packages.
# Idempotent: installs only what is missing, and prints nothing when all is present.
# `install-deps.sh --for-tests` adds what only the test suite needs (Slurm, iproute2).
# Needs root, or sudo. Set DELTARL_SKIP_DEPS=1 to skip (e.g. on a cluster where
# the modules system provides LibTorch, MPI and NCCL).
set -euo pipefail

[[ "${DELTARL_SKIP_DEPS:-0}" == "1" ]] && exit 0

packages=(
  build-essential cmake ccache pkg-config
  libtorch-dev                      # LibTorch (CPU); any LibTorch 2.x works via CMAKE_PREFIX_PATH
  libopenblas0-openmp               # Debian's LibTorch calls the system BLAS: without OpenBLAS it is
                                    # the reference BLAS (~40x slower); the OpenMP build shares
                                    # LibTorch's thread pool (the pthread build oversubscribes cores)
  libopenmpi-dev openmpi-bin        # launch, bootstrap, CPU collectives
  libspdlog-dev nlohmann-json3-dev libcli11-dev libyaml-cpp-dev
  libpcre2-dev libutf8proc-dev      # tokenizer: pre-tokenizer regex, NFC
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc   # rollout service
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-matplotlib        # tools only (plots of a run), never at training time
)
# --for-tests: what the test suite needs beyond building: a real Slurm (munge,
# slurmctld, slurmd) for the sbatch launcher's test, iproute2 for the
# multi-host test's network namespaces, pip to fetch the torch wheel whose
# headers the cuda-compile check compiles against (deploy/check-cuda-compile.sh).
if [[ "${1:-}" == "--for-tests" ]]; then
  packages+=(munge slurmctld slurmd slurm-client iproute2 python3-pip)
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deltarl: install-deps: apt-get not found; install these yourself: ${missing[*]}" >&2
  exit 1
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "deltarl: install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "deltarl: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
