#!/usr/bin/env bash
# Checkpoints do not depend on the world size (Note [ZeRO stages],
# trainer/algorithm/flat_gradients.h): a ZeRO-2 run at 4 ranks, stopped at
# step 2, resumes at 2 ranks (stage 2) and at 1 (stage 0) and reaches the
# uninterrupted run's step-4 weights. Other rank counts round differently
# (other micro-batches on each rank), so the comparison is by the norm of the
# whole update from the step-2 weights, as in rank_invariance.sh (tolerance
# 1e-3); training on from the step-2 weights as a new run (fresh AdamW
# moments, the schedule and data from step 1) must fail it.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
run() {  # ranks, output dir, extra arguments...
  local ranks="$1" out="$2"
  shift 2
  "$mpirun" -np "$ranks" --oversubscribe --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" \
    --set train.steps=4 --set checkpoint.every=2 --set checkpoint.keep_last=5 --set output.dir="$out" "$@"
}
run 4 "$work/np4" --set train.zero_stage=2
saved="$work/np4/checkpoints/step-00000002"
compare=(--from "$saved" --norm whole --tolerance 1e-3)
run 2 "$work/np2" --set train.zero_stage=2 --resume "$saved"
"$deltarl" compare-checkpoints "$work/np2/checkpoints/step-00000004" "$work/np4/checkpoints/step-00000004" \
  "${compare[@]}"
echo "saved at 4 ranks, resumed at 2: same update"
run 1 "$work/np1" --set train.zero_stage=0 --resume "$saved"
"$deltarl" compare-checkpoints "$work/np1/checkpoints/step-00000004" "$work/np4/checkpoints/step-00000004" \
  "${compare[@]}"
echo "saved at 4 ranks, resumed at 1: same update"
# The negative control: the step-2 weights trained on as a new run (fresh
# AdamW moments, the data and schedule from step 1): the comparison must see it.
"$mpirun" -np 1 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" \
  --set train.steps=2 --set model.path="$saved" --set output.dir="$work/fresh"
set +e
"$deltarl" compare-checkpoints "$work/fresh/checkpoints/step-00000002" "$work/np4/checkpoints/step-00000004" \
  "${compare[@]}"
status=$?
set -e
[[ $status -ne 0 ]] || { echo "FAIL: a run without the saved optimizer state passed the comparison" >&2; exit 1; }
echo "negative control: a fresh optimizer differs"
