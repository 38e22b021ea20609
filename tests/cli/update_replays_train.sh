#!/usr/bin/env bash
# `deltarl update` is the production step without generation: replaying the
# rollouts `deltarl train` recorded (output.save_rollouts) at the same number
# of ranks gives train's checkpoint bit for bit, at 1 and 2 ranks, for step 1
# from the start model and for step 2 from step 1's checkpoint (--resume). The
# step makes several updates (2 mini-batches x 2 epochs, π_old pass, KL term)
# on the synthetic task, whose rewards are mixed. Then bad rollouts files: a
# named error, exit 2, nothing written.
set -euo pipefail
deltarl="$1" mpirun="$2"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
"$deltarl" init-model --preset tiny --seed 7 --out "$work/model" >/dev/null
"$deltarl" data synthetic --count 32 --seed 3 --out "$work/train.jsonl" >/dev/null
cat > "$work/config.yaml" <<YAML
model:
  path: $work/model
data:
  train: $work/train.jsonl
  task: synthetic
rollout:
  spawn_local: 1
  worker_threads: 1
  samples_per_prompt: 4
  max_new_tokens: 12
algorithm:
  ppo_mini_batch_size: 2
  ppo_epochs: 2
  kl_coef: 0.05
train:
  steps: 2
  prompts_per_step: 4
  micro_batch_size: 3
  threads: 1
optim:
  lr: 0.001
  warmup_steps: 1
  min_lr_ratio: 0.5
checkpoint:
  every: 1
output:
  tensorboard: false
  save_rollouts: true
YAML
# The update config needs neither data.train nor workers.
grep -v -e "train: $work/train.jsonl" -e spawn_local -e worker_threads "$work/config.yaml" > "$work/update.yaml"

for ranks in 1 2; do
  run="$work/np$ranks"
  "$mpirun" -np $ranks --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$run"
  python3 - "$run" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(f"{sys.argv[1]}/metrics.jsonl")]
assert all(row["actor/updates"] == 4 for row in rows), [row["actor/updates"] for row in rows]
rewards = [json.loads(line)["reward"] for line in open(f"{sys.argv[1]}/rollouts/step-1.jsonl")]
print(f"recorded {len(rewards)} samples, {sum(r > 0 for r in rewards)} rewarded")
PY
  "$mpirun" -np $ranks --bind-to none "$deltarl" update --model "$work/model" --config "$work/update.yaml" \
    --rollouts "$run/rollouts/step-1.jsonl" --out "$work/update$ranks-1" --step 1 > "$work/metrics$ranks-1.json"
  "$deltarl" compare-checkpoints "$run/checkpoints/step-00000001" "$work/update$ranks-1" --tolerance 0 >/dev/null
  "$mpirun" -np $ranks --bind-to none "$deltarl" update --config "$work/update.yaml" \
    --resume "$run/checkpoints/step-00000001" --rollouts "$run/rollouts/step-2.jsonl" --out "$work/update$ranks-2" \
    --step 2 > "$work/metrics$ranks-2.json"
  "$deltarl" compare-checkpoints "$run/checkpoints/step-00000002" "$work/update$ranks-2" --tolerance 0 >/dev/null
  "$deltarl" compare-checkpoints "$run/checkpoints/step-00000002" "$work/update$ranks-2" --tolerance 0 \
    --tensors first-moment >/dev/null
  python3 - "$work/metrics$ranks-1.json" "$run/metrics.jsonl" <<'PY'
import json, sys
update = json.loads(open(sys.argv[1]).read())
train = json.loads(open(sys.argv[2]).readline())
for key in ("actor/loss", "actor/clip_fraction", "actor/grad_norm", "actor/updates", "actor/lr", "reward/mean"):
    assert update[key] == train[key], (key, update[key], train[key])
print(f"updates {update['actor/updates']:.0f}, loss {update['actor/loss']:.6g}, "
      f"clip fraction {update['actor/clip_fraction']:.3g}: as train reported")
PY
  echo "np$ranks: update == train at steps 1 and 2, bit-identical"
done

# The comparison is not blind: the same rollouts replayed as step 2 (its
# learning rate and mini-batch shuffle) give other weights.
"$deltarl" update --model "$work/model" --config "$work/update.yaml" --rollouts "$work/np1/rollouts/step-1.jsonl" \
  --out "$work/as-step-2" --step 2 >/dev/null
set +e
"$deltarl" compare-checkpoints "$work/np1/checkpoints/step-00000001" "$work/as-step-2" --tolerance 0 >/dev/null 2>&1
code=$?
set -e
[[ $code -eq 1 ]] || { echo "replaying as step 2: compare-checkpoints exited $code, not 1" >&2; exit 1; }
echo "replayed as step 2: other weights"

# Bad input: a missing field, log-probs that disagree with the response.
rollouts="$work/np1/rollouts/step-1.jsonl"
python3 - "$rollouts" "$work" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
missing, short = [dict(line) for line in lines], [dict(line) for line in lines]
del missing[2]["reward"]
short[1]["rollout_log_probs"] = short[1]["rollout_log_probs"][:-1]
for name, rows in (("missing", missing), ("short", short)):
    with open(f"{sys.argv[2]}/{name}.jsonl", "w") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)
PY
for bad in missing short; do
  for ranks in 1 2; do
    set +e
    "$mpirun" -np $ranks --bind-to none "$deltarl" update --model "$work/model" --config "$work/update.yaml" \
      --rollouts "$work/$bad.jsonl" --out "$work/bad-$bad" 2> "$work/err"
    code=$?
    set -e
    grep -o -m1 -e "$bad.jsonl:[0-9]*: [^(]*" "$work/err" || { cat "$work/err" >&2; exit 1; }
    [[ ! -e "$work/bad-$bad" ]] || { echo "--out was written" >&2; exit 1; }
    echo "np$ranks exit=$code, nothing written"
  done
done
set +e
"$deltarl" update --model "$work/model" --config "$work/update.yaml" --rollouts "$rollouts" --out "$work/late" \
  --step 3 2> "$work/err"
echo "step past train.steps: exit=$?"
set -e
grep -o -m1 -e "--step 3 must be in \[1, train.steps = 2\]" "$work/err"
