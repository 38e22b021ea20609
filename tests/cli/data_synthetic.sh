#!/usr/bin/env bash
# `deltarl data synthetic`: the same file for a seed, another for another seed,
# each line naming --targets symbols; `deltarl reward --task synthetic` scores a
# response holding a target 1 and one holding none 0; bad input is named.
set -euo pipefail
deltarl="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$deltarl" data synthetic --count 40 --seed 5 --out "$work/a.jsonl"
"$deltarl" data synthetic --count 40 --seed 5 --out "$work/again.jsonl" >/dev/null
"$deltarl" data synthetic --count 40 --seed 6 --out "$work/other.jsonl" >/dev/null
cmp -s "$work/a.jsonl" "$work/again.jsonl" && echo "same seed: same file"
cmp -s "$work/a.jsonl" "$work/other.jsonl" || echo "other seed: other file"
"$deltarl" data synthetic --count 3 --targets 2 --seed 5 --out "$work/two.jsonl" >/dev/null
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
lines = [json.loads(line) for line in open(f"{work}/a.jsonl")]
assert len(lines) == 40 and all(len(line["targets"]) == 16 for line in lines), lines[0]
assert all(len(line["targets"]) == 2 for line in map(json.loads, open(f"{work}/two.jsonl")))
with open(f"{work}/responses.jsonl", "w") as out:
    for line in lines:
        out.write(json.dumps({"targets": line["targets"], "response": "xy" + line["targets"][-1] + "z"}) + "\n")
        out.write(json.dumps({"targets": line["targets"], "response": "only lowercase, no target"}) + "\n")
print("targets per line: 16")
PY
"$deltarl" reward --task synthetic "$work/responses.jsonl" -o "$work/scored.jsonl"
echo "rewarded: $(grep -c '"reward":1.0,"outcome":"correct"' "$work/scored.jsonl")," \
     "unrewarded: $(grep -c '"reward":0.0,"outcome":"no_target"' "$work/scored.jsonl") of $(wc -l < "$work/scored.jsonl")"
if "$deltarl" data synthetic --count 3 --targets 40 --seed 5 --out "$work/bad.jsonl" 2>"$work/err"; then
  echo "--targets 40 was accepted" >&2; exit 1
fi
grep -o -- "--targets must be in \[1, 36\], got 40" "$work/err"
[[ ! -e "$work/bad.jsonl" ]] && echo "nothing written"
echo '{"response":"7"}' > "$work/no_targets.jsonl"
if "$deltarl" reward --task synthetic "$work/no_targets.jsonl" 2>"$work/err"; then
  echo "a line without targets was scored" >&2; exit 1
fi
grep -o 'no_targets.jsonl:1: "targets" must be a list of strings' "$work/err"
