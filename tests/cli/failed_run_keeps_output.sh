#!/usr/bin/env bash
# A run that fails on bad input leaves an existing output file exactly as it was,
# and leaves no temporary file behind.
set -uo pipefail
deltarl="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "previous results" > "$work/out.jsonl"
printf '{"group":0,"length":5}\n{"group":0,"length":-1}\n' > "$work/bad.jsonl"
"$deltarl" weights "$work/bad.jsonl" -o "$work/out.jsonl"
echo "exit=$?"
echo "content=$(cat "$work/out.jsonl")"
echo "files=$(ls "$work" | tr '\n' ' ')"
