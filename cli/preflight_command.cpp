#include "cli/preflight_command.h"

#include <iostream>
#include <memory>

#include "cli/agreed_training_config.h"
#include "cli/command_boundary.h"
#include "cli/command_mpi.h"
#include "core/log.h"
#include "trainer/comm/mpi_environment.h"
#include "trainer/preflight/preflight.h"

namespace deltarl {

void register_preflight_command(CLI::App& app, Status* status) {
  struct Options {
    TrainingConfigArguments config;
    PreflightOptions preflight;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command =
      app.add_subcommand("preflight", "Check that a training launch can run (MPI, builds, GPUs/NCCL, files, workers)");
  command->add_option("--config", options->config.config_path, "the job's YAML config");
  command->add_option("--set", options->config.overrides, "override a key, as for train (repeatable)");
  command->add_option("--resume", options->config.resume, "check the config stored in this checkpoint or run");
  command->add_option("--worker-timeout", options->preflight.worker_timeout_seconds,
                      "seconds to wait for each worker's status")
      ->capture_default_str();
  command->callback([options, status] {
    std::unique_ptr<MpiEnvironment> mpi = start_command_mpi(status);
    if (!mpi) return;
    const auto config = load_agreed_training_config(options->config, status);
    if (!config) return;
    try {
      const PreflightReport report = run_preflight(*config, *mpi, options->preflight);
      if (mpi->rank() == 0) {
        std::cout << report.table;
        for (const auto& problem : report.problems) std::cout << "  PROBLEM: " << problem << "\n";
        std::cout << (report.ok() ? "preflight: ready" : "preflight: " + std::to_string(report.problems.size()) +
                                                             " problem(s); the job would fail")
                  << std::endl;
      }
      *status = report.ok() ? Status()
                            : Status(StatusCode::kInvalidArgument,
                                     mpi->rank() == 0 ? "preflight found problems (above)" : "preflight found problems");
    } catch (...) {
      *status = escaped_exception_status("preflight");
      // Other ranks may be waiting in a collective: end them all (as train does).
      if (mpi->world_size() > 1) {
        log_error(status->to_string());
        MpiEnvironment::abort_all(1);
      }
    }
  });
}

}  // namespace deltarl
