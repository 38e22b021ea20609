#!/usr/bin/env bash
# A rollout worker over loopback gRPC against its engine in-process and
# transformers `generate` on the same checkpoint, in the same run: greedy,
# 32-token prompts, 64 new tokens, batch 1, 8 and 64, 2 threads. Needs python3
# with torch and transformers.
#   bash bench/run_rollout_benchmarks.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$build/cli/deltarl" init-model --preset small --out "$work/small" --seed 1 >/dev/null
# No EOS in config.json: every sequence decodes all 64 tokens on both sides.
python3 - "$work/small/config.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config.pop("eos_token_id", None)
json.dump(config, open(sys.argv[1], "w"), indent=2)
PY
{
  "$build/bench/rollout_bench" --model "$work/small" --greedy --batches 1,8,64
  python3 "$root/bench/reference/transformers_bench.py" model "$work/small" --prompt 32 --new-tokens 64 \
    --decode-batches 1,8,64 --repeats 4 2>/dev/null | grep '"decode"'
} | tee "$work/results.jsonl"
python3 - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
worker = {r["batch"]: r for r in rows if r["bench"] == "rollout"}
reference = {r["batch"]: r for r in rows if r["bench"] == "decode"}
print("\n| batch | worker over gRPC tokens/s | engine in-process tokens/s | generate() tokens/s | transformers generate tokens/s | gRPC / engine | worker / transformers |")
print("|---|---|---|---|---|---|---|")
for batch in sorted(worker):
    w, t = worker[batch], reference[batch]
    print(f"| {batch} | {w['grpc_tokens_per_s']:.0f} | {w['engine_tokens_per_s']:.0f} | {w['generate_tokens_per_s']:.0f} | "
          f"{t['tokens_per_s']:.0f} | {w['grpc_over_engine']:.3f} | {w['grpc_tokens_per_s'] / t['tokens_per_s']:.2f}x |")
PY
