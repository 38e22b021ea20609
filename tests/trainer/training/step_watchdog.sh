#!/usr/bin/env bash
# A rank that hangs does not hang the job: with train.step_timeout_seconds=5 and
# rank 1 stalled on entering step 2's forward-backward (DELTARL_TEST_STALL, the
# step watchdog's test-only switch), every rank's watchdog reports where it is
# and the job ends with exit code 4 (kStepTimeoutExitCode) well within the
# bound, naming rank 1, step 2 and the phase. The same run without the stall
# finishes every step with exit 0.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
step_timeout_exit_code=4   # cli/train_command.h
bound_seconds=300

train() {  # train NAME [mpirun options...]: 2 ranks, 3 steps, a 5 s step timeout
  local name="$1"; shift
  set +e
  timeout "$bound_seconds" "$mpirun" -np 2 --bind-to none "$@" "$deltarl" train --quiet \
    --config "$work/config.yaml" --set train.step_timeout_seconds=5 --set output.dir="$work/$name" \
    > "$work/$name.log" 2>&1
  code=$?
  set -e
}

started=$SECONDS
DELTARL_TEST_STALL="1:2:forward-backward" train stalled -x DELTARL_TEST_STALL
seconds=$((SECONDS - started))
cat "$work/stalled.log"
(( code != 124 )) || { echo "FAIL: the stalled job was still running after ${bound_seconds}s"; exit 1; }
(( code == step_timeout_exit_code )) ||
  { echo "FAIL: the stalled job exited with $code, not $step_timeout_exit_code (the step watchdog's code)"; exit 1; }
grep -q 'DELTARL_TEST_STALL: rank 1 stalls' "$work/stalled.log" ||
  { echo "FAIL: rank 1 never reached the stall (step 2, forward-backward)"; exit 1; }
grep -qE 'step watchdog: rank 1 spent [0-9.]+ s in step 2 \(phase "forward-backward"' "$work/stalled.log" ||
  { echo "FAIL: no watchdog message naming rank 1, step 2 and phase \"forward-backward\""; exit 1; }
# Note [Every rank reports]: rank 0, waiting for rank 1, says where it waits.
grep -qE 'step watchdog: rank 0 spent [0-9.]+ s in step 2 \(phase ' "$work/stalled.log" ||
  { echo "FAIL: rank 0 did not report where it was before the job ended"; exit 1; }
echo "stalled rank: exit $code after ${seconds}s; rank 1 named in step 2, phase \"forward-backward\";" \
     "rank 0 $(grep -oE 'rank 0 spent [0-9.]+ s in step 2 \(phase "[^"]*"' "$work/stalled.log" | head -1 | sed 's/.*(//')"

train control
cat "$work/control.log"
(( code == 0 )) || { echo "FAIL: the run without a stall exited with $code"; exit 1; }
! grep -q 'step watchdog' "$work/control.log" || { echo "FAIL: the watchdog fired without a stall"; exit 1; }
python3 - "$work/control/metrics.jsonl" <<'PY'
import json, sys
steps = [json.loads(line)["step"] for line in open(sys.argv[1])]
assert steps == [1, 2, 3], f"steps in metrics.jsonl: {steps}"
PY
echo "control: exit 0, steps 1..3 under the same 5 s watchdog"
echo "ok: a hung rank ends the job with exit $step_timeout_exit_code, naming rank, step and phase"
