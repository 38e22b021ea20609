#!/usr/bin/env bash
# A rollout worker killed mid-run does not stop training: its groups are
# reissued on the other worker and the run finishes every step. Worker 0 gets
# its weights from rank 0, worker 1 from rank 1 (each rank publishes to its
# share): either one dying is seen by every rank.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
for victim_index in 0 1; do
  run="$work/run-$victim_index"
  "$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set train.steps=6 \
    --set output.dir="$run" &
  pid=$!
  wait_for_steps "$run/metrics.jsonl" 2
  victim=$(pgrep -f -- "--port-file $run/workers/worker-$victim_index.port")
  kill -KILL "$victim"
  echo "killed worker $victim_index (pid $victim)"
  wait "$pid"
  check_metrics_finite "$run/metrics.jsonl"
  check_some_step_clipped "$run/metrics.jsonl"
  python3 - "$run/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
assert rows[-1]["rollout/live_workers"] == 1, rows[-1]
assert all(r["rollout/groups"] == 6 for r in rows), "a group was lost"
print("finished all steps on the surviving worker")
PY
done
