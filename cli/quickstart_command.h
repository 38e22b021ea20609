// `deltarl quickstart [--out runs/quickstart]`: the main job on one machine
// (README.md, "Two commands"). Makes CountDown data (SFT, RL and held-out sets,
// disjoint), SFT-warm-starts a tiny Qwen2 on reasoning of varying length, runs
// RLVR with ΔL (α = 1) under `mpirun -np 2` with two rollout workers spawned on
// 127.0.0.1, evaluating held-out accuracy before, during and after, and writes
// the run folder (metrics.jsonl, TensorBoard events, checkpoints, PNG plots via
// deploy/tools/plot_run.py when matplotlib is present) and summary.json.
// `--short` is a minute-long version for tests.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_quickstart_command(CLI::App& app, Status* status);

}  // namespace deltarl
