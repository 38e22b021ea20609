#!/usr/bin/env bash
# `deltarl quickstart --short` end to end: the run folder has everything the
# full quickstart promises, and every metric is finite.
set -euo pipefail
deltarl="$1"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
"$deltarl" quickstart --short --out "$work/qs"
for path in data/sft.jsonl data/rl.jsonl data/test.jsonl sft-model/model.safetensors rl.yaml rl/config.yaml \
            rl/metrics.jsonl summary.json; do
  test -s "$work/qs/$path" || { echo "missing $path"; exit 1; }
done
ls "$work/qs/rl/tensorboard" | grep -q '^events.out.tfevents'
ls "$work/qs/rl/checkpoints" | grep -q '^step-00000003$'
python3 - "$work/qs" <<'PY'
import json, math, sys
run = sys.argv[1]
rows = [json.loads(line) for line in open(f"{run}/rl/metrics.jsonl")]
assert [r["step"] for r in rows] == [0, 1, 2, 3], [r["step"] for r in rows]
for row in rows:
    for key, value in row.items():
        assert isinstance(value, (int, float)) and math.isfinite(value), (row["step"], key, value)
assert "eval/accuracy" in rows[0] and "eval/accuracy" in rows[-1]
summary = json.load(open(f"{run}/summary.json"))
assert 0 <= summary["heldout_accuracy_sft"] <= 1 and 0 <= summary["heldout_accuracy_rl"] <= 1, summary
# Held-out problems never occur in the training sets.
key = lambda r: (tuple(sorted(r["numbers"])), r["target"])
train = {key(json.loads(l)) for f in ("sft", "rl") for l in open(f"{run}/data/{f}.jsonl")}
test = [key(json.loads(l)) for l in open(f"{run}/data/test.jsonl")]
assert not any(t in train for t in test)
PY
echo "quickstart run folder complete"
