#!/usr/bin/env bash
# A bad config is a clear error (exit 2) naming the key and the file, and writes nothing.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
# expect_failure PATTERN COMMAND...: exit 2, PATTERN in the output, no run folder.
expect_failure() {
  local pattern="$1"; shift
  set +e; output=$("$@" 2>&1); code=$?; set -e
  if [[ $code -ne 2 ]] || ! grep -q -- "$pattern" <<<"$output"; then
    echo "FAIL: expected exit 2 and \"$pattern\", got exit $code:"; echo "$output"; exit 1
  fi
  test ! -e "$work/run" || { echo "FAIL: the run folder was created"; exit 1; }
  echo "ok: $pattern"
}
sed 's/samples_per_prompt/sampels_per_prompt/' "$work/config.yaml" > "$work/typo.yaml"
expect_failure "typo.yaml: unknown key \"rollout.sampels_per_prompt\" (did you mean \"rollout.samples_per_prompt\"?)" \
  "$deltarl" train --config "$work/typo.yaml"
expect_failure "train.steps must be an integer, not \"three\"" \
  "$deltarl" train --config "$work/config.yaml" --set train.steps=three
expect_failure "algorithm.loss_agg_mode: unknown aggregation mode \"grpo\"" \
  "$deltarl" train --config "$work/config.yaml" --set algorithm.loss_agg_mode=grpo
expect_failure "config.yaml: rollout.temperature must be in (0, 100]" \
  "$deltarl" train --config "$work/config.yaml" --set rollout.temperature=0
expect_failure "/nonexistent.jsonl: cannot read the training data" \
  "$mpirun" -np 2 --bind-to none "$deltarl" train --config "$work/config.yaml" --set data.train=/nonexistent.jsonl
printf '{"numbers":[1,2,3],"target":6}\n{"numbers":"1 2","target":3}\n' > "$work/bad.jsonl"
expect_failure "bad.jsonl:2: \"numbers\" must be a non-empty list of integers" \
  "$deltarl" train --config "$work/config.yaml" --set data.train="$work/bad.jsonl" --set data.task=countdown
# PPO mini-batches, epochs and the rollout correction (the fixture: 6 prompts per step).
expect_failure "algorithm.ppo_mini_batch_size (4) must divide train.prompts_per_step (6): set it to a divisor such as 3" \
  "$deltarl" train --config "$work/config.yaml" --set algorithm.ppo_mini_batch_size=4
expect_failure "algorithm.ppo_epochs must be ≥ 1, got 0" \
  "$deltarl" train --config "$work/config.yaml" --set algorithm.ppo_epochs=0
expect_failure "algorithm.rollout_correction_cap must be a finite number > 1" \
  "$deltarl" train --config "$work/config.yaml" --set algorithm.rollout_correction=tis \
  --set algorithm.rollout_correction_cap=1
expect_failure "algorithm.rollout_correction: mis needs π_old from the learner.*algorithm.old_log_probs is rollout" \
  "$deltarl" train --config "$work/config.yaml" --set algorithm.rollout_correction=mis \
  --set algorithm.old_log_probs=rollout
expect_failure "algorithm.rollout_correction must be none, tis, mis, seq-tis or seq-mis, not \"is\"" \
  "$deltarl" train --config "$work/config.yaml" --set algorithm.rollout_correction=is
# The learner-memory switches: a token budget below the longest prompt + max_new_tokens (found
# when the prompts are read, on every rank) and a ZeRO stage that does not exist.
expect_failure "train.micro_batch_tokens (60) is below the longest possible sample: prompt [0-9]* of .*train.jsonl has [0-9]* tokens, + rollout.max_new_tokens 16 = [0-9]*; set train.micro_batch_tokens ≥ [0-9]*" \
  "$mpirun" -np 2 --bind-to none "$deltarl" train --config "$work/config.yaml" --set train.micro_batch_tokens=60
expect_failure "train.zero_stage must be 0, 1 or 2, not 3" \
  "$deltarl" train --config "$work/config.yaml" --set train.zero_stage=3
expect_failure "no tokenizer.json" \
  "$deltarl" train --config "$work/config.yaml" --set model.path="$work"
# An existing run is never overwritten by a fresh start.
mkdir -p "$work/run"; echo '{"step":1}' > "$work/run/metrics.jsonl"
set +e; output=$("$deltarl" train --config "$work/config.yaml" 2>&1); code=$?; set -e
grep -q "already holds a run" <<<"$output" && [[ $code -eq 2 ]]
test "$(cat "$work/run/metrics.jsonl")" = '{"step":1}' && echo "ok: an existing run is untouched"
