#!/usr/bin/env bash
# A failure that no command handles itself ends deltarl with exit code 1 and a
# message naming the command and the cause (cli/command_boundary.h), never an
# abort in std::terminate. The failure here is a real one, a LibTorch error
# (c10::Error): compare-checkpoints takes max() of a zero-element tensor, which
# LibTorch refuses. If compare-checkpoints learns to skip empty tensors, pick
# another failure that escapes a command's own handling.
set -u
deltarl="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/a" "$work/b"
python3 - "$work" <<'PY'
import json, struct, sys
header = json.dumps({"empty": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}).encode()
for name in ("a", "b"):
    with open(f"{sys.argv[1]}/{name}/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
PY
"$deltarl" compare-checkpoints "$work/a" "$work/b" 2>&1
echo "exit=$?"
