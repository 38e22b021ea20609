#!/usr/bin/env bash
# The rollout worker's generation engine against the engine issue 18 started
# from (a `deltarl` built from BASELINE, default 0769170: dense per-row KV
# cache, host sampling, one prefill row per sample) and transformers
# `generate`, on the same checkpoint and requests, in one run:
#   * tokens/s at batch 1, 8 and 64 (32-token prompts) and at 8 prompts x G = 8
#     samples of 200-token prompts, sampled at T = 1, every sequence full length;
#   * seconds per decoding step at batch 1 and 8 against the read-bandwidth
#     bound (weight bytes / this host's measured read bandwidth).
# Each side gets 2 threads and runs alone. Needs git (for the baseline) and,
# for the transformers column, a Python with torch and transformers (PYTHON).
#
#   [BASELINE=rev] [PRESET=qwen2.5-0.5b] [NEW_TOKENS=64] [REPEATS=2] [PYTHON=python3] [SIDES="baseline paged transformers"] bash bench/run_engine_benchmarks.sh [BUILD_DIR]
#
# The baseline is built once into ${DELTARL_CACHE_DIR:-~/.cache/deltarl}/baseline-REV.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
baseline="${BASELINE:-0769170}"
preset="${PRESET:-qwen2.5-0.5b}"
new_tokens="${NEW_TOKENS:-64}"
repeats="${REPEATS:-2}"
python="${PYTHON:-python3}"  # for the transformers column: one with torch and transformers
sides=" ${SIDES:-baseline paged transformers} "  # which to measure
cache="${DELTARL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/deltarl}/baseline-$baseline"
work="$(mktemp -d)"
worker_pid=""
cleanup() {
  [[ -n "$worker_pid" ]] && kill "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

if [[ "$sides" == *" baseline "* && ! -x "$cache/build/cli/deltarl" ]]; then
  echo "building the baseline deltarl at $baseline into $cache (once)" >&2
  rm -rf "$cache/src" && mkdir -p "$cache/src"
  git -C "$root" archive "$baseline" | tar -x -C "$cache/src"
  DELTARL_BUILD_DIR="$cache/build" DELTARL_BUILD_TARGETS=deltarl bash "$cache/src/deploy/build.sh" >"$cache/build.log" 2>&1 ||
    { tail -20 "$cache/build.log" >&2; exit 1; }
fi

tokenizer=()
[[ "$preset" == qwen* ]] && tokenizer=(--tokenizer "$root/tests/fixtures/qwen3-tokenizer/tokenizer.json")
"$build/cli/deltarl" init-model --preset "$preset" --dtype float32 --out "$work/model" --seed 1 "${tokenizer[@]}" >/dev/null
# No EOS: every sequence decodes all its tokens on every side.
python3 - "$work/model/config.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config.pop("eos_token_id", None)
json.dump(config, open(sys.argv[1], "w"), indent=2)
PY
weight_bytes=$(stat -c %s "$work/model/model.safetensors")
bench="$build/bench/worker_generation_bench"
"$bench" --bandwidth --threads 2 | tee "$work/results.jsonl"

start_worker() {  # binary, extra arguments...
  local binary="$1"
  shift
  rm -f "$work/port"
  OMP_NUM_THREADS=2 "$binary" rollout --model "$work/model" --port 0 --port-file "$work/port" --threads 2 \
    --max-batch 64 "$@" >"$work/worker.log" 2>&1 &
  worker_pid=$!
  for _ in $(seq 600); do
    [[ -s "$work/port" ]] && return 0
    kill -0 "$worker_pid" 2>/dev/null || { cat "$work/worker.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "the worker did not start" >&2
  exit 1
}
stop_worker() {  # the worker's log tail, then SIGTERM
  tail -3 "$work/worker.log" >&2
  kill "$worker_pid" 2>/dev/null
  wait "$worker_pid" 2>/dev/null || true
  worker_pid=""
}
measure() {  # label
  local address="127.0.0.1:$(cat "$work/port")"
  for batch in 1 8 64; do
    "$bench" --worker "$address" --label "$1" --prompts "$batch" --samples 1 --prompt-tokens 32 \
      --new-tokens "$new_tokens" --repeats "$repeats" || echo "bench: $1 at batch $batch failed ($?)" >&2
  done
  # Twice the tokens at batch 1 and 8: the difference is decoding alone (no
  # prefill, no first-token latency), for the bandwidth-bound comparison.
  for batch in 1 8; do
    "$bench" --worker "$address" --label "$1" --prompts "$batch" --samples 1 --prompt-tokens 32 \
      --new-tokens "$((2 * new_tokens))" --repeats "$repeats" || echo "bench: $1 at batch $batch failed ($?)" >&2
  done
  "$bench" --worker "$address" --label "$1" --prompts 8 --samples 8 --prompt-tokens 200 \
    --new-tokens "$new_tokens" --repeats "$repeats" || echo "bench: $1 with 8 x 8 samples failed ($?)" >&2
}
if [[ "$sides" == *" baseline "* ]]; then
  start_worker "$cache/build/cli/deltarl"
  measure baseline | tee -a "$work/results.jsonl"
  stop_worker
fi
start_worker "$build/cli/deltarl"
measure paged | tee -a "$work/results.jsonl"
stop_worker
if [[ "$sides" != *" transformers "* ]]; then
  :
elif "$python" -c 'import torch, transformers' 2>/dev/null; then
  OMP_NUM_THREADS=2 "$python" "$root/bench/reference/transformers_bench.py" model "$work/model" --threads 2 \
    --train-batch 0 --sample --prompt 32 --new-tokens "$new_tokens" --decode-batches 1,8,64 --repeats "$repeats" \
    --group-prompts 8 --group-samples 8 --group-prompt-tokens 200 2>"$work/transformers.log" |
    tee -a "$work/results.jsonl" || tail -5 "$work/transformers.log" >&2
else
  echo "no transformers column: $python lacks torch or transformers (PYTHON=path/to/venv/bin/python)" >&2
fi
python3 - "$work/results.jsonl" "$weight_bytes" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
weight_bytes = int(sys.argv[2])
bandwidth = next(r["bytes_per_s"] for r in rows if r["bench"] == "read_bandwidth")
bound = weight_bytes / bandwidth
generation = [r for r in rows if r["bench"] == "worker_generation"]
runs = {(r["label"], r["prompts"], r["samples"], r["prompt_tokens"]): r for r in generation
        if r["new_tokens"] == min(g["new_tokens"] for g in generation)}
longer = {(r["label"], r["prompts"]): r for r in generation if r["new_tokens"] > min(g["new_tokens"] for g in generation)}
reference = {r["batch"]: r for r in rows if r["bench"] == "decode"}
group_reference = {(r["prompts"], r["samples"], r["prompt"]): r for r in rows if r["bench"] == "decode_group"}
print(f"\nweights {weight_bytes / 2**30:.2f} GiB, read bandwidth {bandwidth / 2**30:.1f} GiB/s: bound {bound * 1000:.0f} ms per step")
print("\n| requests | baseline tokens/s | paged tokens/s | paged / baseline | transformers tokens/s | paged / transformers | paged s/step | bound / step |")
print("|---|---|---|---|---|---|---|---|")
for key in sorted({k[1:] for k in runs}, key=lambda k: (k[2], k[0] * k[1])):
    old, new = runs.get(("baseline",) + key), runs.get(("paged",) + key)
    if not new:
        continue
    prompts, samples, prompt_tokens = key
    batch = prompts * samples
    what = f"{prompts} x {samples} samples, {prompt_tokens}-token prompts" if samples > 1 else f"batch {batch}, {prompt_tokens}-token prompts"
    ref = reference.get(batch) if samples == 1 and prompt_tokens == 32 else group_reference.get(key)
    ref_text = f"{ref['tokens_per_s']:.1f} | {new['tokens_per_s'] / ref['tokens_per_s']:.2f}" if ref else "– | –"
    old_text = f"{old['tokens_per_s']:.1f} | {new['tokens_per_s']:.1f} | {new['tokens_per_s'] / old['tokens_per_s']:.2f}" if old else f"– | {new['tokens_per_s']:.1f} | –"
    print(f"| {what} | {old_text} | "
          f"{ref_text} | {new['seconds_per_step']:.3f} | {bound / new['seconds_per_step']:.2f} |")
print("\nDecoding alone (the runs with twice the new tokens minus the first ones, per added token):")
print("\n| batch | baseline s/step | paged s/step | bound / paged step |")
print("|---|---|---|---|")
for batch in (1, 8):
    steps = {}
    for label in ("baseline", "paged"):
        short, long = runs.get((label, batch, 1, 32)), longer.get((label, batch))
        if short and long:
            steps[label] = (long["seconds"] - short["seconds"]) / (long["new_tokens"] - short["new_tokens"])
    if "paged" in steps:
        print(f"| {batch} | {steps.get('baseline', float('nan')):.4f} | {steps['paged']:.4f} | {bound / steps['paged']:.2f} |")
PY
