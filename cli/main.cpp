// deltarl: one binary, one subcommand per concern. Each subcommand reports a
// Status; main turns it into a message on stderr and an exit code. An exception
// a command does not handle itself stops here too (cli/command_boundary.h): it
// becomes a Status naming the command and the cause, never an abort.
#include <CLI/CLI.hpp>

#include "cli/command_boundary.h"

#include "cli/compare_checkpoints_command.h"
#include "cli/data_command.h"
#include "cli/eval_command.h"
#include "cli/plan_command.h"
#include "cli/preflight_command.h"
#include "cli/quickstart_command.h"
#include "cli/sft_command.h"
#include "cli/generate_command.h"
#include "cli/gradstats_command.h"
#include "cli/init_model_command.h"
#include "cli/reward_command.h"
#include "cli/rollout_command.h"
#include "cli/tokenize_command.h"
#include "cli/train_command.h"
#include "cli/update_command.h"
#include "cli/weights_command.h"
#include "core/cpu_kernels.h"
#include "core/log.h"
#include "core/status.h"
#include "core/tensor_memory_reuse.h"

int main(int argc, char** argv) {
  deltarl::keep_freed_tensor_memory();  // before any thread or tensor exists
  CLI::App app{"deltarl: distributed RLVR training with exact, unbiased loss aggregation"};
  app.require_subcommand(1);
  deltarl::Status status;
  deltarl::register_weights_command(app, &status);
  deltarl::register_gradstats_command(app, &status);
  deltarl::register_generate_command(app, &status);
  deltarl::register_tokenize_command(app, &status);
  deltarl::register_init_model_command(app, &status);
  deltarl::register_reward_command(app, &status);
  deltarl::register_data_command(app, &status);
  deltarl::register_rollout_command(app, &status);
  deltarl::register_train_command(app, &status);
  deltarl::register_update_command(app, &status);
  deltarl::register_preflight_command(app, &status);
  deltarl::register_plan_command(app, &status);
  deltarl::register_compare_checkpoints_command(app, &status);
  deltarl::register_sft_command(app, &status);
  deltarl::register_eval_command(app, &status);
  deltarl::register_quickstart_command(app, &status);
  try {
    // DELTARL_CPU_KERNELS is read lazily by the kernels; a bad value is
    // start-up input, so it fails here rather than at a first use mid-run.
    deltarl::selected_cpu_kernels();
  } catch (...) {
    status = deltarl::escaped_exception_status("(environment)");
  }
  if (!status.ok()) {
    deltarl::log_error(status.to_string());
    return status.exit_code();
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (...) {
    status = deltarl::escaped_exception_status(deltarl::parsed_command_name(app));
  }
  if (!status.ok()) {
    deltarl::log_error(status.to_string());
    return status.exit_code();
  }
  return 0;
}
