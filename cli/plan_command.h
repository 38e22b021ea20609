// `deltarl plan --config FILE [--set key=value ...] [--ranks N] [--gpu-memory 80GiB]
// [--prompt-tokens N] [--json FILE|-]`: a learner rank's peak memory for a
// training config, by component, from model.path's config.json alone (or a
// preset name), whether it fits, and what to change when it does not
// (trainer/preflight/memory_plan.h, docs/memory.md). Exit codes: 0 fits,
// 1 does not fit, 2 bad input.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_plan_command(CLI::App& app, Status* status);

}  // namespace deltarl
