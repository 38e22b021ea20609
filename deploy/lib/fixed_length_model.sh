# For benchmarks and scaling runs: a model whose every response has the same
# length, so each step does the same work. Source it, then
#   make_fixed_length_model DELTARL_BINARY FOLDER
# writes FOLDER/model (the `small` preset, random weights, EOS removed so every
# response runs to max_new_tokens) and FOLDER/train.jsonl (CountDown prompts).
make_fixed_length_model() {
  local deltarl="$1" folder="$2"
  "$deltarl" init-model --preset small --out "$folder/model" --seed 1 >/dev/null
  python3 - "$folder/model/config.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config.pop("eos_token_id", None)
json.dump(config, open(sys.argv[1], "w"), indent=2)
PY
  "$deltarl" data countdown --count 512 --numbers 3..4 --seed 1 --out "$folder/train.jsonl" >/dev/null
}
