#!/usr/bin/env bash
# Generated CountDown problems, answered with their own solutions, all score 1.
set -euo pipefail
deltarl="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$deltarl" data countdown --count 200 --numbers 3..4 --max-number 30 --seed 4 --out "$work/cd.jsonl"
sed -E 's|"solution":"([^"]*)"|"response":"<think>easy</think><answer>\1</answer>"|' "$work/cd.jsonl" > "$work/answers.jsonl"
"$deltarl" reward --task countdown "$work/answers.jsonl" -o "$work/scored.jsonl"
echo "correct: $(grep -c '"reward":1.0,"outcome":"correct"' "$work/scored.jsonl") of $(wc -l < "$work/scored.jsonl")"
