#!/usr/bin/env bash
# A run stopped at step 2 and resumed reaches the same weights at step 4 as the
# run never stopped, bit for bit; resuming in place keeps each step's metrics once.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
"$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" \
  --set train.steps=4 --set checkpoint.every=2 --set checkpoint.keep_last=5
cp -r "$work/run/checkpoints/step-00000004" "$work/uninterrupted"
# Resume in place from step 2, as after a preemption that lost steps 3 and 4.
rm -rf "$work/run/checkpoints/step-00000004"
"$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" \
  --set train.steps=4 --set checkpoint.every=2 --set checkpoint.keep_last=5 \
  --resume "$work/run/checkpoints/step-00000002"
"$deltarl" compare-checkpoints "$work/run/checkpoints/step-00000004" "$work/uninterrupted"
check_some_step_clipped "$work/run/metrics.jsonl"
python3 - "$work/run/metrics.jsonl" <<'PY'
import json, sys
steps = [json.loads(line)["step"] for line in open(sys.argv[1])]
assert steps == [1, 2, 3, 4], steps
print("metrics steps", steps)
PY
# The optimizer state resumes too (not only the weights).
cmp "$work/run/checkpoints/step-00000004/optimizer.safetensors" "$work/uninterrupted/optimizer.safetensors"
echo "resume is bit-exact"
