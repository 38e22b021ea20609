#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs dependencies, builds, runs
# every test (unit, MPI under mpirun, CLI). GPU tests skip without a GPU.
# Pass ctest arguments to narrow it, e.g. `-L unit` or `-R invariance`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/deploy/install-deps.sh"
"$root/deploy/build.sh"
# OpenMPI refuses to run as root (containers, CI) unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "${DELTARL_BUILD_DIR:-$root/build}"
ctest --output-on-failure --parallel "${DELTARL_TEST_JOBS:-2}" --timeout 900 "$@"
