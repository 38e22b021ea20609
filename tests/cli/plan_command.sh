#!/usr/bin/env bash
# `deltarl plan`: a run that cannot fit says so (exit 1, fits=false, suggestions),
# the recommended settings fit the 7B at 8 ranks (exit 0, docs/memory.md),
# --json - prints one object, a folder
# without config.json and a bad one are named (exit 2), the plan needs only
# config.json (no weights), and preflight refuses a CPU launch that cannot fit.
set -euo pipefail
deltarl="$1"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cat > "$work/run.yaml" <<YAML
model: {path: qwen2.5-7b, dtype: bfloat16}
data: {train: unused.jsonl}
rollout: {spawn_local: 1, max_new_tokens: 8192}
train: {micro_batch_size: 4}
YAML
set +e
"$deltarl" plan --config "$work/run.yaml" --ranks 8 --gpu-memory 80GB --json "$work/plan.json"; echo "too large: exit=$?"
"$deltarl" plan --config "$work/run.yaml" --ranks 8 --gpu-memory 80GB --json - > "$work/stdout.json"; echo "json to stdout: exit=$?"
"$deltarl" plan --config "$work/run.yaml" --ranks 8 --gpu-memory 80GB --set train.micro_batch_tokens=16384 \
  --set train.logits_chunk_tokens=1024 --set train.activation_checkpointing=true --set train.zero_stage=1
echo "recommended: exit=$?"
python3 - "$work/plan.json" "$work/stdout.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    plan = json.load(open(path))
    assert isinstance(plan["per_rank_peak_bytes"], int) and plan["fits"] is False and plan["suggestions"], plan
    assert set(plan["components"]) >= {"weights", "gradients", "optimizer_state", "activations", "logits", "reference_model"}
print("json fields ok")
PY
mkdir "$work/empty"
"$deltarl" plan --config "$work/run.yaml" --set model.path="$work/empty"; echo "no config.json: exit=$?"
echo '{"model_type": "qwen2"}' > "$work/empty/config.json"
"$deltarl" plan --config "$work/run.yaml" --set model.path="$work/empty"; echo "bad config.json: exit=$?"
"$deltarl" init-model --preset tiny --out "$work/tiny" >/dev/null
rm "$work/tiny/model.safetensors"
"$deltarl" plan --config "$work/run.yaml" --set model.path="$work/tiny" --set rollout.max_new_tokens=64 \
  --set model.dtype=float32 >/dev/null; echo "config.json only: exit=$?"
"$deltarl" preflight --config "$work/run.yaml" --set train.device=cpu --set model.path="$work/tiny" \
  --set rollout.max_new_tokens=100000 --set train.micro_batch_size=64 --worker-timeout 1 2>&1 | grep -E "needs about|try" || true
