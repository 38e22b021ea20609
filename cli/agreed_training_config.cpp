#include "cli/agreed_training_config.h"

#include <mpi.h>

#include "core/input_error.h"
#include "trainer/training_checkpoint.h"

namespace deltarl {

std::optional<TrainingConfig> load_agreed_training_config(const TrainingConfigArguments& arguments, Status* status) {
  TrainingConfig config;
  std::string error_text;
  try {
    if (!arguments.config_path.empty()) {
      config = load_training_config(arguments.config_path, arguments.overrides);
    } else if (!arguments.resume.empty()) {
      const std::string checkpoint = find_checkpoint(arguments.resume);
      config = load_training_config_text(load_trainer_state(checkpoint).config_yaml,
                                         checkpoint + "/trainer_state.json (config_yaml)", arguments.overrides);
    } else {
      throw InputError("needs --config FILE (or --resume DIR to reuse a checkpoint's config)");
    }
  } catch (const InputError& error) {
    error_text = error.what();
  }
  int failed_ranks = error_text.empty() ? 0 : 1;
  MPI_Allreduce(MPI_IN_PLACE, &failed_ranks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (failed_ranks > 0) {
    *status = Status(StatusCode::kInvalidArgument,
                     error_text.empty() ? "another rank could not read the config (see its message)" : error_text);
    return std::nullopt;
  }
  return config;
}

}  // namespace deltarl
