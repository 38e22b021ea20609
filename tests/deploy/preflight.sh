#!/usr/bin/env bash
# `deltarl preflight` passes a good launch and names the host and cause of each
# kind of bad one: unreachable worker, wrong token, different builds across
# ranks, a worker serving another vocabulary, missing files, a launcher whose
# tasks did not wire up into one MPI world.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/../trainer/training/common.sh"
work="$(mktemp -d)"; pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
make_fixture "$work"
start_worker() {  # start_worker NAME MODEL [token]: prints nothing, sets $port
  local name="$1" model="$2"
  DELTARL_ROLLOUT_TOKEN="${3:-}" "$deltarl" rollout --model "$model" --port 0 --port-file "$work/$name.port" \
    --threads 1 > "$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do [[ -s "$work/$name.port" ]] && break; sleep 0.1; done
  port=$(cat "$work/$name.port")
}
expect() {  # expect CODE PATTERN COMMAND...
  local want="$1" pattern="$2"; shift 2
  set +e; output=$("$@" 2>&1); code=$?; set -e
  if [[ $code -ne $want ]] || ! grep -q -- "$pattern" <<<"$output"; then
    echo "FAIL: expected exit $want and \"$pattern\", got exit $code:"; echo "$output"; exit 1
  fi
  echo "ok: $pattern"
}
start_worker good "$work/model"; good=$port
expect 0 "preflight: ready" "$mpirun" -np 2 --bind-to none "$deltarl" preflight --config "$work/config.yaml" \
  --set rollout.spawn_local=0 --set "rollout.workers=[127.0.0.1:$good]"
grep -q "worker 127.0.0.1:$good: ok, policy version 0, qwen2 .* vocab 512" <<<"$output"
expect 2 "worker 127.0.0.1:1 from $(hostname): .*nothing answers there" \
  "$deltarl" preflight --config "$work/config.yaml" --set "rollout.workers=[127.0.0.1:$good,127.0.0.1:1]"

start_worker locked "$work/model" s3cret; locked=$port
expect 2 "worker 127.0.0.1:$locked from .*token refused" \
  "$deltarl" preflight --config "$work/config.yaml" --set "rollout.workers=[127.0.0.1:$locked]"
echo s3cret > "$work/token"
expect 0 "preflight: ready" "$deltarl" preflight --config "$work/config.yaml" \
  --set "rollout.workers=[127.0.0.1:$locked]" --set rollout.auth_token_file="$work/token"

# A worker started from another model: the parity fixture (vocabulary 300).
mkdir -p "$work/other-model"
cp "$(dirname "$0")/../fixtures/qwen2-tiny/tied/"{config.json,model.safetensors} "$work/model/tokenizer.json" \
  "$work/other-model/"
start_worker other "$work/other-model"; other=$port
expect 2 "worker 127.0.0.1:$other serves a model with vocabulary 300 but model.path has 512" \
  "$deltarl" preflight --config "$work/config.yaml" --set "rollout.workers=[127.0.0.1:$other]"

# A byte-different binary is a different build, even with the same version.
cp "$deltarl" "$work/deltarl-other"; printf 'x' >> "$work/deltarl-other"
expect 2 "learner hosts run different deltarl builds" "$mpirun" --bind-to none \
  -np 1 "$deltarl" preflight --config "$work/config.yaml" : -np 1 "$work/deltarl-other" preflight --config "$work/config.yaml"

expect 2 "data.train \"$work/missing.jsonl\" does not exist there" \
  "$deltarl" preflight --config "$work/config.yaml" --set data.train="$work/missing.jsonl"
# srun without a matching MPI plugin starts N singletons, each in a world of 1.
expect 2 "the launcher started 2 tasks but MPI sees a world of 1" \
  env SLURM_STEP_NUM_TASKS=2 "$deltarl" preflight --config "$work/config.yaml"
echo "preflight: all checks behave"
