#!/usr/bin/env bash
# The learner-memory benchmark (docs/benchmarks.md): one learner step per
# setting, each in its own process (bench/learner_memory_bench.cpp), and a
# table of each setting's peak beside the features-off run of this same
# invocation: the peak resident memory, the part of it above the model state
# (weights + gradients + AdamW) and the process's start, learner tokens/s, and
# the peak `deltarl plan` predicts for the setting, with measured / planned.
#
#   bash bench/run_learner_memory_benchmark.sh [short|long] [extra learner_memory_bench options...]
#
#   short: qwen2.5-0.5b shapes, fp32, 4 samples of 64 + 128..256 tokens;
#          the features-off baseline fits in 24 GiB.
#   long:  the same shapes at 2 samples of 64 + 2048..4096 tokens; only the
#          features-on settings run, since the features-off baseline needs far
#          more than this machine has (`deltarl plan` says how much).
# DELTARL_BUILD_DIR picks the build (default build/). Writes each run's JSON to
# $OUT (default a temporary folder) and prints the table.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="${DELTARL_BUILD_DIR:-$root/build}/bench/learner_memory_bench"
[[ -x "$bench" ]] || { echo "no $bench: run bash deploy/build.sh first" >&2; exit 1; }
shape="${1:-short}"
shift || true
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"

case "$shape" in
  short)
    common=(--preset qwen2.5-0.5b --samples 4 --prompt 64 --response 256)
    settings=(
      "off|"
      "checkpointing|--activation-checkpointing 1"
      "logits chunks 512|--logits-chunk-tokens 512"
      "token budget 640|--micro-batch-tokens 640"
      "all three|--activation-checkpointing 1 --logits-chunk-tokens 512 --micro-batch-tokens 640"
    )
    ;;
  long)
    common=(--preset qwen2.5-0.5b --samples 2 --prompt 64 --response 4096)
    settings=(
      "all three|--activation-checkpointing 1 --logits-chunk-tokens 512 --micro-batch-tokens 4200"
    )
    ;;
  *)
    echo "usage: run_learner_memory_benchmark.sh [short|long] [options...]" >&2
    exit 2
    ;;
esac

gib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 2^30 }'; }
field() { sed -n "s/.*\"$2\": \\([0-9.e+-]*\\).*/\\1/p" "$1"; }

echo "| setting | peak RSS GiB | model state GiB | above model state GiB | × off | learner tokens/s | × off | plan GiB | peak / plan |"
echo "|---|---|---|---|---|---|---|---|---|"
off_above="" off_rate=""
index=0
for entry in "${settings[@]}"; do
  name="${entry%%|*}"
  read -r -a options <<<"${entry#*|}"
  json="$out/setting-$index.json"
  "$bench" "${common[@]}" "${options[@]}" "$@" >"$json"
  above=$(field "$json" above_model_state_bytes)
  rate=$(field "$json" learner_tokens_per_second)
  if [[ -z "$off_above" && "$name" == off ]]; then off_above=$above off_rate=$rate; fi
  ratio_above="–" ratio_rate="–"
  if [[ -n "$off_above" ]]; then
    ratio_above=$(awk -v a="$above" -v b="$off_above" 'BEGIN { printf "%.3f", a / b }')
    ratio_rate=$(awk -v a="$rate" -v b="$off_rate" 'BEGIN { printf "%.2f", a / b }')
  fi
  printf '| %s | %s | %s | %s | %s | %.0f | %s | %s | %.3f |\n' "$name" "$(gib "$(field "$json" peak_rss_bytes)")" \
    "$(gib "$(field "$json" model_state_bytes)")" "$(gib "$above")" "$ratio_above" "$rate" "$ratio_rate" \
    "$(gib "$(field "$json" plan_peak_bytes)")" "$(field "$json" peak_over_plan)"
  index=$((index + 1))
done
echo "(each run's JSON: $out)"
