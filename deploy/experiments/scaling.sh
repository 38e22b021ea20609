#!/usr/bin/env bash
# Weak and strong scaling of `deltarl train` over learner ranks and rollout
# workers on this machine, each step split into generation / training (with
# the gradient all-reduce) / weight sync; then the cost model fitted to these
# points (deploy/tools/scaling_model.py), its check against them, and its
# prediction for N nodes. Writes OUT/runs.csv, OUT/allreduce.csv, OUT/model.json,
# OUT/check.csv, OUT/prediction.csv and PNG plots. docs/scaling.md explains.
#
#   bash deploy/experiments/scaling.sh [OUT] [STEPS] [MAX_PROCESSES]
#
# One process = one core: learners and workers get 1 thread each, and the
# grid stops at MAX_PROCESSES (default: the cores here) learners or workers,
# so a phase never oversubscribes (generation and training do not overlap).
# Model: the `small` preset with random weights and no EOS, so every response
# is max_new_tokens (64) long and the work per step is fixed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mkdir -p "${1:-runs/scaling}" && cd "${1:-runs/scaling}" && pwd)"
steps="${2:-6}"
max_processes="${3:-$(nproc)}"
build="${DELTARL_BUILD_DIR:-$root/build}"
deltarl="$build/cli/deltarl"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[[ -x "$deltarl" && -x "$build/bench/allreduce_sweep_bench" ]] || { echo "build first: deploy/build.sh" >&2; exit 2; }
work="$out/work"; rm -rf "$work"; mkdir -p "$work"
source "$root/deploy/lib/fixed_length_model.sh"
make_fixed_length_model "$deltarl" "$work"
cat > "$work/config.yaml" <<YAML
model: {path: $work/model}
data: {train: $work/train.jsonl, prompt_template: countdown-compact}
rollout: {worker_threads: 1, samples_per_prompt: 8, max_new_tokens: 64}
algorithm: {kl_coef: 0.0}
train: {steps: $steps, threads: 1}
optim: {lr: 1.0e-5}
checkpoint: {every: 0}
output: {tensorboard: false}
YAML

# kind ranks workers prompts_per_step
grid=()
for (( p = 1; p <= max_processes; p *= 2 )); do
  grid+=("weak $p $p $((8 * p))")
  for (( q = 1; q <= max_processes; q *= 2 )); do grid+=("strong $p $q $((8 * max_processes))"); done
done
echo "kind,ranks,workers,prompts,samples,steps_averaged,generation_s,training_s,gradient_allreduce_s,weight_sync_s,step_s,generated_tokens,trained_tokens,parameters" > "$out/runs.csv"
for point in "${grid[@]}"; do
  read -r kind ranks workers prompts <<< "$point"
  name="$kind-r$ranks-w$workers-p$prompts"
  echo "[scaling] $name" >&2
  mpirun -np "$ranks" --oversubscribe --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" \
    --set output.dir="$work/$name" --set rollout.spawn_local="$workers" --set train.prompts_per_step="$prompts" \
    --set train.micro_batch_size="$prompts" 2>"$work/$name.log"
  python3 - "$work/$name/metrics.jsonl" "$work/model/model.safetensors" "$kind" "$ranks" "$workers" "$prompts" >> "$out/runs.csv" <<'PY'
import json, os, sys
path, weights, kind, ranks, workers, prompts = sys.argv[1:]
rows = [json.loads(line) for line in open(path)][1:]   # step 1 warms up
mean = lambda key: sum(r[key] for r in rows) / len(rows)
samples = int(prompts) * 8
generated = mean("response_length/mean") * samples
trained = sum(r["perf/learner_tokens_per_second"] * r["time/training"] for r in rows) / len(rows)
parameters = (os.path.getsize(weights) - 8) // 4   # float32; the header is small against it
print(f"{kind},{ranks},{workers},{prompts},{samples},{len(rows)},{mean('time/generation'):.4f},{mean('time/training'):.4f},"
      f"{mean('time/gradient_allreduce'):.5f},{mean('time/weight_sync'):.4f},{mean('time/step'):.4f},{generated:.0f},{trained:.0f},{parameters}")
PY
done
for (( p = 2; p <= max_processes; p *= 2 )); do
  mpirun -np "$p" --oversubscribe --bind-to none "$build/bench/allreduce_sweep_bench"
done | awk 'NR == 1 || !/^ranks/' > "$out/allreduce.csv"
# The model tool plots with matplotlib when some python here has it.
python=python3
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c "import matplotlib" 2>/dev/null; then python="$candidate"; break; fi
done
"$python" "$root/deploy/tools/scaling_model.py" "$out"
