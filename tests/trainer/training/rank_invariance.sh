#!/usr/bin/env bash
# The same 3 steps at -np 1 and -np 2 give the same weights (relative error ≤ 1e-5):
# per-group seeds make the rollouts identical, group-global weights make the update so.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
"$mpirun" -np 1 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/np1"
"$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/np2" \
  --set train.micro_batch_size=2
"$deltarl" compare-checkpoints "$work/np2/checkpoints/step-00000003" "$work/np1/checkpoints/step-00000003" \
  --tolerance 1e-5
echo "np1 == np2"
