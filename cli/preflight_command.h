// `deltarl preflight --config FILE [--set key=value ...] [--worker-timeout S]`:
// launched exactly as the training job would be (same srun/mpirun, ranks and
// config), checks in seconds that it can run (trainer/preflight/preflight.h lists the
// checks) and prints hosts, builds, GPUs and workers. Exit codes: 0 ready,
// 2 a problem found (each printed with its host and a likely cause).
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_preflight_command(CLI::App& app, Status* status);

}  // namespace deltarl
