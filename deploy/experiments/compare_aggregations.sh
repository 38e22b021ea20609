#!/usr/bin/env bash
# The paper in miniature: GRPO, DAPO, Dr. GRPO and ΔL (α = 0.5, 0.75, 1) loss
# aggregation on the quickstart's CountDown setting, several seeds each, from the
# same SFT model and data; everything else identical. Produces a table (final
# held-out accuracy mean ± std, monotonicity) and a plot (docs/results.md).
#
#   bash deploy/experiments/compare_aggregations.sh QUICKSTART_DIR OUT_DIR [STEPS] [SEEDS] [SETTINGS]
#
# QUICKSTART_DIR is a `deltarl quickstart` run folder (its sft-model/, data/ and
# rl.yaml are reused). STEPS defaults to 60, SEEDS to "1 2 3". SETTINGS are more
# `--set key=value` options for every run; the paper's shape, four PPO updates
# per rollout batch of the quickstart's 32 prompts, is
#   "--set algorithm.ppo_mini_batch_size=8"
# Runs are resumable:
# a finished run (its summary in OUT_DIR/<mode>-seed<k>/metrics.jsonl reaching
# STEPS) is skipped.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
deltarl="${DELTARL_BUILD_DIR:-$root/build}/cli/deltarl"
quickstart="$1"
out="$2"
steps="${3:-60}"
seeds="${4:-1 2 3}"
settings="${5:-}"
[[ -f "$quickstart/rl.yaml" && -d "$quickstart/sft-model" ]] || {
  echo "compare_aggregations: $quickstart is not a quickstart run folder (no rl.yaml / sft-model)" >&2; exit 2; }
mkdir -p "$out"
[[ $(id -u) -eq 0 ]] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
declare -A modes=(
  [grpo]="--set algorithm.loss_agg_mode=seq-mean-token-mean --set algorithm.advantage=grpo"
  [dapo]="--set algorithm.loss_agg_mode=token-mean --set algorithm.advantage=grpo"
  [dr-grpo]="--set algorithm.loss_agg_mode=seq-mean-token-sum-norm --set algorithm.advantage=dr-grpo"
  [delta-l-0.5]="--set algorithm.loss_agg_mode=delta-l --set algorithm.alpha=0.5 --set algorithm.advantage=grpo"
  [delta-l-0.75]="--set algorithm.loss_agg_mode=delta-l --set algorithm.alpha=0.75 --set algorithm.advantage=grpo"
  [delta-l-1]="--set algorithm.loss_agg_mode=delta-l --set algorithm.alpha=1 --set algorithm.advantage=grpo"
)
for seed in $seeds; do
  for mode in grpo dapo dr-grpo delta-l-0.5 delta-l-0.75 delta-l-1; do
    run="$out/$mode-seed$seed"
    if [[ -f "$run/metrics.jsonl" ]] && tail -n 1 "$run/metrics.jsonl" | grep -q "\"step\":$steps,"; then
      echo "done already: $run"; continue
    fi
    rm -rf "$run"
    echo "== $mode seed $seed"
    # shellcheck disable=SC2086
    mpirun -np 2 --oversubscribe --bind-to none "$deltarl" train --quiet --config "$quickstart/rl.yaml" \
      --set output.dir="$run" --set train.steps="$steps" --set train.seed="$seed" \
      --set eval.every=$((steps / 6 > 0 ? steps / 6 : 1)) --set checkpoint.every=0 --set checkpoint.keep_last=1 \
      --set output.tensorboard=false ${modes[$mode]} $settings 2> "$out/$mode-seed$seed.log"
  done
done
python3 "$root/deploy/experiments/summarize_aggregations.py" "$out"
