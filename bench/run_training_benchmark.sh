#!/usr/bin/env bash
# Learner step time, split, at 1 and 2 ranks on this machine, in the same run:
# `deltarl train` on the `small` preset (random weights, no EOS: every response is
# max_new_tokens long), 16 prompts x 8 samples, 2 spawned workers (1 thread each).
# Reports generation / training / weight-sync seconds per step, the statistics
# all-reduce's share of the step, and learner tokens/s, averaged over steps 2..N
# (step 1 warms up). 2-rank throughput is reported as a ratio to 1 rank.
#   bash bench/run_training_benchmark.sh [BUILD_DIR] [STEPS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
steps="${2:-4}"
deltarl="$build/cli/deltarl"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
source "$root/deploy/lib/fixed_length_model.sh"
make_fixed_length_model "$deltarl" "$work"
cat > "$work/config.yaml" <<YAML
model: {path: $work/model}
data: {train: $work/train.jsonl, prompt_template: countdown-compact}
rollout: {spawn_local: 2, worker_threads: 1, samples_per_prompt: 8, max_new_tokens: 64}
algorithm: {kl_coef: 0.0}
train: {steps: $steps, prompts_per_step: 16, micro_batch_size: 16}
optim: {lr: 1.0e-5}
checkpoint: {every: 0}
output: {tensorboard: false}
YAML
for ranks in 1 2; do
  mpirun -np "$ranks" --oversubscribe --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" \
    --set output.dir="$work/np$ranks" 2>/dev/null
done
python3 - "$work" "$steps" <<'PY'
import json, sys
work, steps = sys.argv[1], int(sys.argv[2])
def averages(ranks):
    rows = [json.loads(line) for line in open(f"{work}/np{ranks}/metrics.jsonl")][1:]
    mean = lambda key: sum(r[key] for r in rows) / len(rows)
    return {key: mean(key) for key in rows[0] if key != "step"}
one, two = averages(1), averages(2)
print("| learner ranks | generation s | training s | of which gradient all-reduce s | weight sync s | step s | statistics all-reduce | share of step | learner tokens/s |")
print("|---|---|---|---|---|---|---|---|---|")
for ranks, m in ((1, one), (2, two)):
    print(f"| {ranks} | {m['time/generation']:.2f} | {m['time/training']:.2f} | {m['time/gradient_allreduce']:.3f} | {m['time/weight_sync']:.2f} | "
          f"{m['time/step']:.2f} | {m['time/statistics_allreduce']*1e3:.3f} ms | "
          f"{100*m['time/statistics_allreduce']/m['time/step']:.4f} % | {m['perf/learner_tokens_per_second']:.0f} |")
print(f"\n2 ranks / 1 rank learner tokens/s: {two['perf/learner_tokens_per_second']/one['perf/learner_tokens_per_second']:.2f}x"
      f" (steps 2..{steps} averaged)")
PY
