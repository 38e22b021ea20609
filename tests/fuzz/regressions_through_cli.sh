#!/usr/bin/env bash
# Runs every committed fuzz regression (tests/fuzz/regressions/<target>/<name>)
# through the real deltarl binary, in the command that reads that kind of file
# at start-up, and checks that deltarl refuses it cleanly: exit code 2 (not a
# signal, not 1, not a server that starts) and an error message naming the file.
#   usage: regressions_through_cli.sh DELTARL REGRESSIONS_DIR
set -uo pipefail
deltarl="$1"
regressions="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$deltarl" init-model --preset tiny --out "$work/model" --seed 1 >/dev/null || { echo "init-model failed"; exit 1; }
printf '{"numbers": [3, 5, 7], "target": 22}\n' > "$work/train.jsonl"

failures=0
count=0
# check NAME EXPECTED_IN_MESSAGE COMMAND...: runs the command, expects exit 2
# and EXPECTED_IN_MESSAGE (the file's path) on stderr.
check() {
  local name="$1" expected="$2"
  shift 2
  local output status
  # An input wrongly accepted may start serving (rollout) or training: the limit ends it.
  output="$(timeout 120 "$@" 2>&1 </dev/null)"
  status=$?
  count=$((count + 1))
  if [[ $status -ne 2 || "$output" != *"$expected"* ]]; then
    echo "FAIL $name: exit $status (expected 2), message should name $expected:"
    echo "$output" | tail -5 | sed 's/^/    | /'
    failures=$((failures + 1))
  else
    echo "ok   $name: exit 2: $(echo "$output" | tail -1 | cut -c1-200)"
  fi
}

# A fresh copy of the tiny model with one file replaced by the input.
model_with() {
  local file="$1" input="$2" dir="$work/case-$RANDOM$RANDOM"
  cp -r "$work/model" "$dir"
  cp "$input" "$dir/$file"
  echo "$dir"
}

for input in "$regressions"/*/*; do
  [[ -f "$input" ]] || continue
  target="$(basename "$(dirname "$input")")"
  name="$target/$(basename "$input")"
  case "$target" in
    safetensors)
      dir="$(model_with model.safetensors "$input")"
      check "$name" "$dir/model.safetensors" "$deltarl" generate --model "$dir" --prompt x --max-new-tokens 1 ;;
    config_json)
      dir="$(model_with config.json "$input")"
      check "$name" "$dir/config.json" "$deltarl" generate --model "$dir" --prompt x --max-new-tokens 1 ;;
    checkpoint_index)
      dir="$(model_with model.safetensors.index.json "$input")"
      check "$name" "$dir/model.safetensors.index.json" "$deltarl" generate --model "$dir" --prompt x --max-new-tokens 1 ;;
    tokenizer)
      check "$name" "$input" "$deltarl" tokenize --tokenizer "$input" ;;
    training_config)
      check "$name" "$input" "$deltarl" train --config "$input" ;;
    prompt_dataset)
      task=math && grep -q '"numbers"' "$input" && task=countdown
      check "$name" "$input" "$deltarl" eval --model "$work/model" --data "$input" --task "$task" \
        --prompt-template "$task" --max-new-tokens 1 ;;
    rollout_jsonl)
      check "$name" "$input" "$deltarl" weights "$input" ;;
    trainer_state)
      dir="$work/resume-$RANDOM$RANDOM"
      mkdir -p "$dir" && cp "$input" "$dir/trainer_state.json"
      check "$name" "$dir/trainer_state.json" "$deltarl" train --resume "$dir" \
        --set model.path="$work/model" --set data.train="$work/train.jsonl" --set rollout.spawn_local=1 ;;
    token_file)
      check "$name" "$input" "$deltarl" rollout --model "$work/model" --port 0 --token-file "$input" ;;
    worker_address)
      # As deploy/lib/launch_common.sh passes it: --set rollout.workers=[$(cat file)]
      check "$name" "rollout.workers" "$deltarl" train --set model.path="$work/model" \
        --set data.train="$work/train.jsonl" --set "rollout.workers=[$(cat "$input")]" ;;
    *)
      echo "note $name: no deltarl command reads $target inputs at start-up (replayed by deltarl_fuzz only)" ;;
  esac
done

if [[ $failures -ne 0 ]]; then
  echo "$failures of $count regression inputs were not refused cleanly"
  exit 1
fi
echo "all $count regression inputs refused cleanly"
