# Shared set-up for the training tests: a tiny random model, CountDown data and
# a config with small steps. Source it, then call make_fixture DIR.
# Needs: $deltarl (the binary) and $mpirun set by the caller.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

make_fixture() {
  local dir="$1"
  mkdir -p "$dir"
  "$deltarl" init-model --preset tiny --seed 7 --out "$dir/model" >/dev/null
  "$deltarl" data countdown --count 64 --numbers 3..3 --max-number 9 --seed 3 --out "$dir/train.jsonl" >/dev/null
  # Random weights never answer CountDown, so rewards are all 0: the entropy
  # bonus and the KL term give every step a real, weight-dependent gradient.
  cat > "$dir/config.yaml" <<YAML
model:
  path: $dir/model
data:
  train: $dir/train.jsonl
  prompt_template: countdown-compact
rollout:
  spawn_local: 2
  worker_threads: 1
  samples_per_prompt: 4
  max_new_tokens: 16
algorithm:
  kl_coef: 0.05
  entropy_coef: 0.01
train:
  steps: 3
  prompts_per_step: 6
  micro_batch_size: 5
  threads: 1
optim:
  lr: 0.001
  warmup_steps: 1
checkpoint:
  every: 0
output:
  dir: $dir/run
  tensorboard: true
YAML
}

# Every value in metrics.jsonl is a finite number; prints the step count.
check_metrics_finite() {
  python3 - "$1" <<'PY'
import json, math, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
for row in rows:
    for key, value in row.items():
        assert isinstance(value, (int, float)) and math.isfinite(value), f"step {row['step']}: {key} = {value}"
print(f"metrics: {len(rows)} steps, all finite")
PY
}

# Waits (bounded) until metrics.jsonl has at least $2 lines.
wait_for_steps() {
  local file="$1" steps="$2"
  for _ in $(seq 1 600); do
    if [[ -f "$file" ]] && (( $(wc -l < "$file") >= steps )); then return 0; fi
    sleep 0.2
  done
  echo "timed out waiting for $steps steps in $file" >&2
  return 1
}
