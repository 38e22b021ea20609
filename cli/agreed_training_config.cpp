#include "cli/agreed_training_config.h"

#include <mpi.h>

#include "core/input_error.h"
#include "trainer/comm/agreement.h"
#include "trainer/comm/mpi_communicator.h"
#include "trainer/run/training_checkpoint.h"

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
  MpiCommunicator world(MPI_COMM_WORLD);
  const AgreedFailure failure = agree_on_failure(world, !error_text.empty(), /*input_error_here=*/true);
  if (failure.any()) {
    *status = Status(StatusCode::kInvalidArgument,
                     error_text.empty() ? failure.describe("reading the config") : error_text);
    return std::nullopt;
  }
  return config;
}

}  // namespace deltarl
