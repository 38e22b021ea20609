// `deltarl update --rollouts FILE.jsonl --out DIR [--model DIR] [--config FILE]
// [--set key=value ...] [--resume CHECKPOINT] [--step N]`: one step's PPO
// updates from recorded rollouts (output.save_rollouts, or any file in the
// format of docs/training.md, "Recorded rollouts"), on learner ranks launched
// by mpirun like `deltarl train`; writes DIR as a checkpoint and prints the
// step's metrics as one JSON line (trainer/run/recorded_update.h).
//
// The config is --config, else the --resume checkpoint's, else the defaults;
// data.train and the rollout workers are not needed. --model sets model.path:
// the weights to start from (with --resume, the checkpoint's instead) and the
// KL reference. Exit codes: 0 done, 2 bad input (nothing written), 1 any
// other failure.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_update_command(CLI::App& app, Status* status);

}  // namespace deltarl
