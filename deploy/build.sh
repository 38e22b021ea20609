#!/usr/bin/env bash
# Configures and builds deltarl (Release, ccache when present) into build/.
# Extra arguments go to cmake, e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch for a
# LibTorch 2.x with CUDA. DELTARL_BUILD_DIR overrides the folder;
# DELTARL_BUILD_TARGETS="deltarl" builds only those targets (the quickstart
# builds just the executable it runs, not every test and benchmark).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DELTARL_BUILD_DIR:-$root/build}"
jobs="${DELTARL_JOBS:-$(nproc)}"
# Paths under the checkout hashed relative to it: a fresh clone in another
# folder (CI) reuses what an earlier build compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  echo "deltarl: cmake configure failed (log above; missing dependency? run deploy/install-deps.sh)" >&2
  exit 1
}
targets=()
for target in ${DELTARL_BUILD_TARGETS:-}; do targets+=(--target "$target"); done
cmake --build "$build" --parallel "$jobs" "${targets[@]}"
