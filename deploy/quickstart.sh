#!/usr/bin/env bash
# The main job on one machine (the job: 11-32 minutes on the 2-core machines
# measured, README.md): installs dependencies, builds the deltarl executable,
# then `deltarl quickstart`: CountDown data, an SFT warm
# start of a tiny Qwen2, RLVR with ΔL (α = 1) under `mpirun -np 2` with two
# rollout workers on 127.0.0.1, held-out accuracy before, during and after, plots.
# The run folder is runs/quickstart-<time> (or $DELTARL_RUN_DIR); extra
# arguments go to `deltarl quickstart` (e.g. --rl-steps 50).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/deploy/install-deps.sh"
# Only the executable the job runs: the tests and benchmarks are
# deploy/run-tests.sh's to build.
DELTARL_BUILD_TARGETS=deltarl "$root/deploy/build.sh"
run="${DELTARL_RUN_DIR:-$root/runs/quickstart-$(date +%Y%m%d-%H%M%S)}"
"${DELTARL_BUILD_DIR:-$root/build}/cli/deltarl" quickstart --out "$run" "$@"
