#!/usr/bin/env bash
# One-step-off overlap (generation of step k+1 during training of step k) keeps
# the policy lag at most 1 and uses the rollout log-probs as π_old; DAPO's
# dynamic sampling drops equal-reward groups and refills up to the step size.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work" countdown
"$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/overlap" \
  --set train.steps=4 --set rollout.one_step_off=true --set algorithm.old_log_probs=rollout
check_metrics_finite "$work/overlap/metrics.jsonl"
python3 - "$work/overlap/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [r["step"] for r in rows] == [1, 2, 3, 4]
lags = [r["rollout/policy_version_lag_max"] for r in rows]
assert all(0 <= lag <= 1 for lag in lags), lags
assert rows[0]["rollout/policy_version_lag_max"] == 0   # nothing prefetched for step 1
print("overlap: lag max per step", lags)
PY
# Random weights score 0 everywhere: every group is filtered, each step tries
# 1 + max_refill_rounds rounds, then trains on the last round unfiltered.
"$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/filter" \
  --set train.steps=2 --set rollout.filter_equal_rewards=true --set rollout.max_refill_rounds=2
python3 - "$work/filter/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
for r in rows:
    assert r["rollout/rounds"] == 3 and r["rollout/groups"] == 6, r
    assert r["rollout/groups_filtered"] == 6 + 6, r
print("filtering: 3 rounds per step, 12 groups dropped, 6 trained")
PY
