#!/usr/bin/env bash
# Model and tokenizer throughput of deltarl against Hugging Face transformers and
# tokenizers, measured in the same run on this machine, printed as ratios.
#   bash bench/run_model_benchmarks.sh [BUILD_DIR]
# Needs python3 with torch, transformers, tokenizers (pip install torch
# transformers tokenizers safetensors). Uses `small` preset weights (random,
# 5.8M parameters, written by deltarl init-model) and 2 threads on both sides.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
threads="${DELTARL_BENCH_THREADS:-2}"

"$build/cli/deltarl" init-model --preset small --out "$work/small" --seed 1 >/dev/null
python3 - "$work/corpus.txt" "$root/tests/fixtures/tokenizer/qwen3_parity.jsonl" <<'PY'
import json, sys
texts = [json.loads(line)["text"] for line in open(sys.argv[2], encoding="utf-8")]
english = ("Using the numbers [19, 36, 55, 7], create an equation that equals 65. You can use basic "
           "arithmetic operations (+, -, *, /) and each number can only be used once. ") * 3
with open(sys.argv[1], "w", encoding="utf-8") as out:
    for i in range(30):
        for text in texts:
            out.write(text.replace("\n", " ") + "\n")
            out.write(english + str(i) + "\n")
PY

{
  "$build/bench/model_bench" "$work/small" --threads "$threads"
  python3 "$root/bench/reference/transformers_bench.py" model "$work/small" --threads "$threads" 2>/dev/null
  for tokenizer in "$root/tests/fixtures/qwen3-tokenizer/tokenizer.json" "$root/core/presets/countdown-tokenizer.json"; do
    "$build/bench/tokenizer_bench" "$tokenizer" "$work/corpus.txt"
    python3 "$root/bench/reference/transformers_bench.py" tokenize "$tokenizer" "$work/corpus.txt"
  done
} | tee "$work/results.jsonl"

python3 - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
def key(r):  # tokenize runs: equal bytes and (by parity) equal token counts pair them up
    return (r["bench"], r.get("batch"), r.get("bytes"), r.get("tokens"))
ours = {key(r): r for r in rows if r["impl"] == "deltarl"}
print("\n| measurement | deltarl | reference | ratio |\n|---|---|---|---|")
for other in (r for r in rows if r["impl"] != "deltarl"):
    mine = ours[key(other)]
    metric = "mb_per_s" if mine["bench"] == "tokenize" else "tokens_per_s"
    unit = "MB/s" if metric == "mb_per_s" else "tokens/s"
    if mine["bench"] == "train":
        name = f"train fwd+bwd, batch {mine['batch']} x {mine['seq']}"
    elif mine["bench"] == "decode":
        name = f"KV-cache greedy decode, batch {mine['batch']}, {mine['new_tokens']} new tokens"
    else:
        name = f"tokenize {mine['bytes'] / 1e6:.1f} MB into {mine['tokens']} tokens"
    print(f"| {name} | {mine[metric]:.1f} {unit} | {other[metric]:.1f} {unit} ({other['impl']}) | "
          f"{mine[metric] / other[metric]:.2f}x |")
PY
