// `deltarl train --config FILE [--set key=value ...] [--resume DIR]`: RLVR
// training on learner ranks launched by mpirun or srun (or alone, as one rank).
// `--resume` takes a checkpoint or a run folder (the newest checkpoint); with
// it, --config may be left out to reuse the checkpoint's own config.
// `--print-config` prints every key with its default and exits.
// Exit codes: 0 finished, 3 stopped by a signal after writing a checkpoint
// (resume to continue), 4 a step outlasted train.step_timeout_seconds (the
// watchdog ended every rank; resume from the last checkpoint), 2 bad input,
// 1 any other failure.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_train_command(CLI::App& app, Status* status);

// The exit code of a run that stopped early on a signal, after its checkpoint.
constexpr int kStoppedBySignalExitCode = 3;
// The exit code of a job a step watchdog aborted (train.step_timeout_seconds).
constexpr int kStepTimeoutExitCode = 4;

}  // namespace deltarl
