#!/usr/bin/env bash
# mpirun -np 2 learners with 2 spawned workers on loopback, 3 steps: metrics
# finite, weights change, the workers' policy versions advance every step.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
"$mpirun" -np 2 --bind-to none "$deltarl" train --config "$work/config.yaml"
check_metrics_finite "$work/run/metrics.jsonl"
python3 - "$work/run/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [r["step"] for r in rows] == [1, 2, 3], rows
versions = [r["policy_version"] for r in rows]
assert all(b == a + 1 for a, b in zip(versions, versions[1:])), versions
# lag 0: every sample of a step came from the version published after the step before
assert all(r["rollout/policy_version_lag_max"] == 0 for r in rows), rows
assert all(r["rollout/live_workers"] == 2 for r in rows)
assert all(r["actor/grad_norm"] > 0 for r in rows)
assert all(r["rollout/logprob_mismatch_max"] < 1e-3 for r in rows), "workers and learner disagree on log-probs"
print("versions advance:", versions)
PY
ls "$work/run/tensorboard" | grep -q "^events.out.tfevents" && echo "tensorboard events written"
if "$deltarl" compare-checkpoints "$work/run/checkpoints/step-00000003" "$work/model"; then
  echo "FAIL: the weights did not change"; exit 1
fi
echo "weights changed"
