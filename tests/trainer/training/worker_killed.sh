#!/usr/bin/env bash
# A rollout worker killed mid-run does not stop training: its groups are
# reissued on the other worker and the run finishes every step.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
"$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set train.steps=6 &
pid=$!
wait_for_steps "$work/run/metrics.jsonl" 2
victim=$(pgrep -f -- "--port-file $work/run/workers/worker-0.port")
kill -KILL "$victim"
echo "killed worker 0 (pid $victim)"
wait "$pid"
check_metrics_finite "$work/run/metrics.jsonl"
python3 - "$work/run/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
assert rows[-1]["rollout/live_workers"] == 1, rows[-1]
assert all(r["rollout/groups"] == 6 for r in rows), "a group was lost"
print("finished all steps on the surviving worker")
PY
