// The training config as `deltarl train` and `deltarl preflight` read it: from
// --config FILE, or else from the checkpoint --resume names, with --set
// overrides; read by every rank itself (one host may not see the file) and
// agreed on, so no rank enters a collective while another gives up.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "trainer/run/training_config.h"

namespace deltarl {

struct TrainingConfigArguments {
  std::string config_path;
  std::vector<std::string> overrides;  // --set key=value
  std::string resume;                  // checkpoint or run folder
};

// Collective over MPI_COMM_WORLD (MPI must be initialized). On failure returns
// nullopt on every rank, with *status naming the file and key on the ranks that
// saw the error and pointing to them on the others.
std::optional<TrainingConfig> load_agreed_training_config(const TrainingConfigArguments& arguments, Status* status);

}  // namespace deltarl
