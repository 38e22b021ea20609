// `deltarl data countdown --count N --numbers 3..4 --max-number K [--max-target T]
// --seed S --out FILE`: synthetic CountDown problems as JSONL, one per line:
// {"numbers": [...], "target": T, "solution": "..."}, each solvable (the
// solution passes the verifier). The file is written atomically.
//
// `deltarl data synthetic --count N [--targets K] --seed S --out FILE`: prompts
// of the synthetic test task, one per line: {"targets": ["3", "K", ...]}
// (core/tasks/synthetic_generator.h). Also written atomically.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_data_command(CLI::App& app, Status* status);

}  // namespace deltarl
