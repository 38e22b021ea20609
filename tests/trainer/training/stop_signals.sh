#!/usr/bin/env bash
# SIGTERM (one process) and SIGUSR1 (through mpirun, as Slurm's preemption
# warning) make the run finish its step, write a checkpoint and exit 3; the run
# then resumes from it.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"

"$deltarl" train --quiet --config "$work/config.yaml" --set train.steps=500 --set output.dir="$work/a" &
pid=$!
wait_for_steps "$work/a/metrics.jsonl" 2
kill -TERM "$pid"
set +e; wait "$pid"; code=$?; set -e
echo "SIGTERM exit=$code"
last=$(tail -n 1 "$work/a/metrics.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["step"])')
test -f "$work/a/checkpoints/step-$(printf %08d "$last")/model.safetensors"
echo "checkpoint at the last step ($last)"
"$deltarl" train --quiet --config "$work/config.yaml" --set train.steps=$((last + 1)) --set output.dir="$work/a" \
  --resume "$work/a"
echo "resumed to step $((last + 1))"

"$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set train.steps=500 \
  --set output.dir="$work/b" &
pid=$!
wait_for_steps "$work/b/metrics.jsonl" 2
kill -USR1 "$pid"
set +e; wait "$pid"; code=$?; set -e
echo "SIGUSR1 via mpirun exit=$code"
ls "$work/b/checkpoints" | grep -q '^step-' && echo "checkpoint written"
