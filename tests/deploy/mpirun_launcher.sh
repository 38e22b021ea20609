#!/usr/bin/env bash
# deploy/mpirun/train.sh on this host: SIGTERM to the launcher makes the
# learners finish the step, checkpoint and exit 3 (not a kill); running the
# same command again resumes from that checkpoint and finishes, each step in
# metrics.jsonl once.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/../trainer/training/common.sh"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work/data"
echo "localhost slots=2" > "$work/hosts.txt"
# A simple command, so that $! is `timeout` itself, which passes SIGTERM on to the launcher.
launch=(env HOSTFILE="$work/hosts.txt" WORKER_HOSTS=localhost WORKERS_PER_HOST=1 CONFIG="$work/data/config.yaml"
        MODEL="$work/data/model" RUN_DIR="$work/run" DELTARL="$deltarl" MPIRUN="$mpirun" WORKER_ARGS="--threads 1"
        MPIRUN_ARGS="--oversubscribe" TRAIN_ARGS="--set train.steps=40 --set checkpoint.every=0"
        timeout 600 bash "$repo/deploy/mpirun/train.sh")
"${launch[@]}" > "$work/first.log" 2>&1 &
launcher=$!
wait_for_steps "$work/run/train/metrics.jsonl" 3
kill -TERM "$launcher"
set +e; wait "$launcher"; code=$?; set -e
cat "$work/first.log"
[[ $code -eq 3 ]] || { echo "FAIL: the launcher exited with $code after SIGTERM, not 3"; exit 1; }
compgen -G "$work/run/train/checkpoints/step-*" > /dev/null || { echo "FAIL: no checkpoint after SIGTERM"; exit 1; }
stopped=$(ls "$work/run/train/checkpoints" | tail -1)
echo "SIGTERM to the launcher: exit 3, checkpoint $stopped"
"${launch[@]}" > "$work/second.log" 2>&1 || { cat "$work/second.log"; echo "FAIL: the second launch failed"; exit 1; }
grep -q "deltarl train --resume $work/run/train" "$work/second.log" || { cat "$work/second.log"; echo "FAIL: no resume"; exit 1; }
python3 - "$work/run/train/metrics.jsonl" <<'PY'
import json, sys
steps = [json.loads(line)["step"] for line in open(sys.argv[1])]
assert steps == list(range(1, 41)), f"steps in metrics.jsonl: {steps}"
PY
echo "mpirun launcher: stopped cleanly, resumed by running it again, steps 1..40 once each"
