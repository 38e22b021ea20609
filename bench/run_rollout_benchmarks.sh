#!/usr/bin/env bash
# A rollout worker over loopback gRPC against its engine in-process and
# transformers `generate` on the same checkpoint, in the same run: greedy,
# 32-token prompts, 64 new tokens, batch 1, 8 and 64, 2 threads. Needs python3
# with torch and transformers.
#   [ROUNDS=3] bash bench/run_rollout_benchmarks.sh [BUILD_DIR]
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
# This VM's speed drifts by 20 % and more within minutes, so the two sides
# alternate, ROUNDS times (default 3), and each ratio is taken within a round.
rounds="${ROUNDS:-3}"
for round in $(seq "$rounds"); do
  "$build/bench/rollout_bench" --model "$work/small" --greedy --batches 1,8,64 | sed "s/^{/{\"round\": $round, /"
  python3 "$root/bench/reference/transformers_bench.py" model "$work/small" --prompt 32 --new-tokens 64 \
    --decode-batches 1,8,64 --repeats 4 2>/dev/null | grep '"decode"' | sed "s/^{/{\"round\": $round, /"
done | tee "$work/results.jsonl"
python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
worker = {(r["round"], r["batch"]): r for r in rows if r["bench"] == "rollout"}
reference = {(r["round"], r["batch"]): r for r in rows if r["bench"] == "decode"}
batches = sorted({batch for _, batch in worker})
print("\n| batch | worker over gRPC tokens/s | engine in-process tokens/s | generate() tokens/s | "
      "transformers generate tokens/s | gRPC / engine | worker / transformers (median, range) |")
print("|---|---|---|---|---|---|---|")
med = statistics.median
for batch in batches:
    keys = sorted(k for k in worker if k[1] == batch and k in reference)
    if not keys:
        continue
    grpc = [worker[k]["grpc_tokens_per_s"] for k in keys]
    ratios = [worker[k]["grpc_tokens_per_s"] / reference[k]["tokens_per_s"] for k in keys]
    print(f"| {batch} | {med(grpc):.0f} | {med([worker[k]['engine_tokens_per_s'] for k in keys]):.0f} | "
          f"{med([worker[k]['generate_tokens_per_s'] for k in keys]):.0f} | "
          f"{med([reference[k]['tokens_per_s'] for k in keys]):.0f} | "
          f"{med([worker[k]['grpc_over_engine'] for k in keys]):.3f} | "
          f"{med(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |")
PY
