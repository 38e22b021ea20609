#!/usr/bin/env bash
# TensorBoard event files written by deltarl, read back with the `tensorboard`
# package's own loader: every metric of every step, equal to metrics.jsonl.
# Skips (77) where Python has no tensorboard package.
deltarl="$1" mpirun="$2"
python="${DELTARL_TEST_PYTHON:-python3}"
source "$(dirname "$0")/common.sh"
"$python" -c "import tensorboard" 2>/dev/null || { echo "SKIP: no tensorboard package for $python"; exit 77; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
"$deltarl" train --quiet --config "$work/config.yaml" --set train.steps=2 --set checkpoint.every=1 \
  --set checkpoint.keep_last=3
# A resumed run writes a second event file that starts with a SessionLog START at step 2.
"$deltarl" train --quiet --config "$work/config.yaml" --set train.steps=3 --resume "$work/run/checkpoints/step-00000001"
"$python" - "$work/run" <<'PY'
import glob, json, math, sys
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.util import tensor_util
run = sys.argv[1]
files = sorted(glob.glob(f"{run}/tensorboard/events.out.tfevents.*"))
assert len(files) == 2, files
scalars, starts = {}, []
for path in files:
    for event in EventFileLoader(path).Load():
        if event.HasField("session_log"):
            starts.append(event.step)
            # TensorBoard's purge: a START at step s drops earlier files' events from s on.
            scalars = {key: value for key, value in scalars.items() if key[0] < event.step}
        for value in event.summary.value:
            # The loader migrates simple_value summaries to scalar tensors, as TensorBoard shows them.
            read = value.simple_value if value.HasField("simple_value") else float(tensor_util.make_ndarray(value.tensor))
            scalars[(event.step, value.tag)] = read
assert starts == [2], starts
rows = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
assert [r["step"] for r in rows] == [1, 2, 3]
checked = 0
for row in rows:
    for tag, value in row.items():
        if tag == "step":
            continue
        read = scalars[(row["step"], tag)]
        assert math.isclose(read, value, rel_tol=1e-6, abs_tol=1e-30) or abs(read - value) <= 1e-7 * max(1, abs(value)), (tag, read, value)
        checked += 1
print(f"tensorboard read back {checked} scalars over {len(rows)} steps from {len(files)} event files")
PY
