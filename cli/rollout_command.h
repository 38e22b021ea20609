// `deltarl rollout --model DIR [--port P] [--bind ADDR] [--max-batch N] [--kv-cache-memory SIZE] [--port-file F]
// [--address-file F]`: runs a
// rollout worker until SIGTERM or SIGINT, then drains (running streams get
// --drain-seconds to finish). The shared token, when wanted, comes from the
// DELTARL_ROLLOUT_TOKEN environment variable or --token-file, never the command
// line; a worker bound beyond loopback refuses to start without one.
// --address-file writes "host:port" once serving, for launchers (deploy/).
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_rollout_command(CLI::App& app, Status* status);

}  // namespace deltarl
