#!/usr/bin/env bash
# The other model families end to end: mpirun -np 2 learners with 2 spawned
# workers on loopback, 3 steps on a tiny Qwen3 (per-head q/k norms, head size
# 64 while hidden / heads is 32, no q/k/v bias) and a tiny Llama (llama3 RoPE
# scaling): metrics finite, workers and learners agree on the log-probs (the
# same model math on both sides), weights change, and the checkpoint keeps its
# family.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
for preset in tiny-qwen3 tiny-llama; do
  MODEL_PRESET="$preset" make_fixture "$work/$preset"
  "$mpirun" -np 2 --bind-to none "$deltarl" train --config "$work/$preset/config.yaml"
  check_metrics_finite "$work/$preset/run/metrics.jsonl"
  python3 - "$work/$preset/run/metrics.jsonl" "$work/$preset/run/checkpoints/step-00000003/config.json" "$preset" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [r["step"] for r in rows] == [1, 2, 3], rows
assert all(r["actor/grad_norm"] > 0 for r in rows)
assert all(r["rollout/logprob_mismatch_max"] < 1e-3 for r in rows), "workers and learner disagree on log-probs"
config = json.load(open(sys.argv[2]))
family = {"tiny-qwen3": "qwen3", "tiny-llama": "llama"}[sys.argv[3]]
assert config["model_type"] == family, config
print(f"{sys.argv[3]}: 3 steps, log-prob mismatch max {max(r['rollout/logprob_mismatch_max'] for r in rows):.2g}, "
      f"checkpoint model_type {config['model_type']}")
PY
  if "$deltarl" compare-checkpoints "$work/$preset/run/checkpoints/step-00000003" "$work/$preset/model"; then
    echo "FAIL: the $preset weights did not change"; exit 1
  fi
  echo "$preset weights changed"
done
