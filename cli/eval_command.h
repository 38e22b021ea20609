// `deltarl eval --model DIR --task countdown|math --data FILE [--samples N]
// [--temperature T] [--prompt-template T] [--json OUT]`: held-out accuracy with
// n samples per prompt (trainer/evaluation/task_evaluation.h), prompts rendered as
// `deltarl train` renders them. Prints one line; --json writes the numbers.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_eval_command(CLI::App& app, Status* status);

}  // namespace deltarl
