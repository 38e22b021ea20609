# Shared set-up for the training tests: a tiny random model, prompts and a
# config with small steps. Source it, then call make_fixture DIR [TASK]
# (MODEL_PRESET picks the preset: tiny by default).
# Needs: $deltarl (the binary) and $mpirun set by the caller.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

# TASK synthetic (the default): the synthetic test task, on which the random
# model earns mixed 0/1 rewards, so the policy-gradient term is live; each
# step makes 2 mini-batches × 2 epochs = 4 PPO updates, so the ratio moves off
# 1 and the clip binds. TASK countdown: random weights never answer CountDown,
# so every reward is 0 and every group has equal rewards (for the filtering
# tests); the entropy bonus and the KL term still give a real gradient.
make_fixture() {
  local dir="$1" task="${2:-synthetic}"
  mkdir -p "$dir"
  "$deltarl" init-model --preset "${MODEL_PRESET:-tiny}" --seed 7 --out "$dir/model" >/dev/null
  local data_lines mini_batch_lines=""
  if [[ "$task" == countdown ]]; then
    "$deltarl" data countdown --count 64 --numbers 3..3 --max-number 9 --seed 3 --out "$dir/train.jsonl" >/dev/null
    data_lines="  prompt_template: countdown-compact"
  else
    "$deltarl" data synthetic --count 64 --seed 3 --out "$dir/train.jsonl" >/dev/null
    data_lines="  task: synthetic"
    mini_batch_lines="  ppo_mini_batch_size: 3
  ppo_epochs: 2"
  fi
  cat > "$dir/config.yaml" <<YAML
model:
  path: $dir/model
data:
  train: $dir/train.jsonl
$data_lines
rollout:
  spawn_local: 2
  worker_threads: 1
  samples_per_prompt: 4
  max_new_tokens: 16
algorithm:
  kl_coef: 0.05
  entropy_coef: 0.01
$mini_batch_lines
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

# Some step of metrics.jsonl clipped: the PPO ratio moved and the clip bound.
check_some_step_clipped() {
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
clipped = [row["actor/clip_fraction"] for row in rows]
assert any(c > 0 for c in clipped), f"no step clipped: {clipped}"
assert all(row["actor/updates"] >= 2 for row in rows), [row["actor/updates"] for row in rows]
print("clip fraction per step", [round(c, 4) for c in clipped])
PY
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
