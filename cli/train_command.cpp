#include "cli/train_command.h"

#include <iostream>
#include <memory>

#include "cli/agreed_training_config.h"
#include "cli/command_boundary.h"
#include "cli/command_mpi.h"
#include "core/input_error.h"
#include "core/log.h"
#include "trainer/comm/learner_device.h"
#include "trainer/comm/mpi_communicator.h"
#include "trainer/comm/mpi_environment.h"
#include "trainer/run/training_config.h"
#include "trainer/run/training_run.h"

namespace deltarl {

void register_train_command(CLI::App& app, Status* status) {
  struct Options {
    std::string config_path;
    std::vector<std::string> overrides;
    std::string resume;
    bool print_config = false;
    bool quiet = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("train", "RLVR training (run under mpirun/srun for several ranks)");
  command->add_option("--config", options->config_path, "YAML config (docs/configuration.md)");
  command->add_option("--set", options->overrides, "override a key: --set train.steps=10 (repeatable)");
  command->add_option("--resume", options->resume, "continue from a checkpoint or run folder");
  command->add_flag("--print-config", options->print_config, "print every key with its default, then exit");
  command->add_flag("--quiet", options->quiet, "no per-step console line");
  command->callback([options, status] {
    if (options->print_config) {
      TrainingConfig defaults;
      std::cout << training_config_to_yaml(defaults);
      return;
    }
    std::unique_ptr<MpiEnvironment> mpi = start_command_mpi(status);
    if (!mpi) return;
    const bool several_ranks = mpi->world_size() > 1;
    const auto config = load_agreed_training_config(
        {options->config_path, options->overrides, options->resume}, status);
    if (!config) return;
    try {
      TrainingRunOptions run_options;
      run_options.resume = options->resume;
      run_options.console_progress = !options->quiet;
      // A hung step: every rank is ended, the launchers restart from the last
      // checkpoint. MPI_Abort from the watchdog's thread, although MPI runs
      // FUNNELED: the main thread is the one that hung, and Open MPI's abort
      // only signals the launcher.
      run_options.on_step_timeout = [](const std::string&) { MpiEnvironment::abort_all(kStepTimeoutExitCode); };
      TrainingRunResult result;
      {  // the communicators end with the run, before MPI does
        MpiCommunicator host(MPI_COMM_WORLD);
        const torch::Device device = choose_learner_device(config->train.device, mpi->local_rank(), host);
        const std::unique_ptr<Communicator> device_communicator = make_device_communicator(host, device);
        const LearnerCommunicators communicators{host, device_communicator ? *device_communicator : host,
                                                 mpi->local_size()};
        TrainingRun run(*config, run_options, communicators);
        result = run.run();
      }
      if (result.stopped_by_signal) {
        *status = Status(StatusCode::kUnavailable,
                         "stopped by a signal after step " + std::to_string(result.final_step) + "; " +
                             (result.last_checkpoint.empty() ? std::string("no checkpoint yet")
                                                             : "checkpoint " + result.last_checkpoint));
        mpi.reset();
        log_info(status->message());
        std::exit(kStoppedBySignalExitCode);
      }
    } catch (const InputError& error) {
      // Every rank saw bad input together (TrainingRun agrees on it), so all can leave cleanly.
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (...) {
      // Anything else, std::exception or not, ends here and not in main's
      // boundary: unwinding there would first tear down MPI under peers still
      // waiting in a collective.
      *status = escaped_exception_status("train");
      log_error(status->to_string());
      // Other ranks may be waiting in a collective: end them all.
      if (several_ranks) MpiEnvironment::abort_all(1);
    }
  });
}

}  // namespace deltarl
