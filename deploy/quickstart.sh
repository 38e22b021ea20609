#!/usr/bin/env bash
# The main job on one machine. Installs dependencies, builds, then runs deltarl's
# own analysis of loss aggregation: every mode's bias and gradient noise on
# synthetic RLVR-like lengths, beside the paper's closed forms. Writes
# runs/quickstart/gradstats.json. (RLVR training on CountDown replaces this as
# the main job once the learner lands.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/deploy/install-deps.sh"
"$root/deploy/build.sh"
run="${DELTARL_RUN_DIR:-$root/runs/quickstart}"
mkdir -p "$run"
deltarl="${DELTARL_BUILD_DIR:-$root/build}/cli/deltarl"
"$deltarl" gradstats --synthetic --lengths lognormal:300,0.9 --groups 8 --group-size 16 \
  --json "$run/gradstats.json"
echo
echo "Weights each mode gives a small example group (deltarl weights):"
for mode in seq-mean-token-mean token-mean seq-mean-token-sum-norm delta-l; do
  printf '%-24s' "$mode"
  printf '{"group":0,"length":50}\n{"group":0,"length":200}\n{"group":0,"length":800}\n' |
    "$deltarl" weights --mode "$mode" --max-len 1024 |
    sed -E 's/.*"weight":([0-9.e+-]+).*/\1/' | awk '{printf "  %.3e", $1} END {print ""}'
done
