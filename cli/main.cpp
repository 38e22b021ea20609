// deltarl: one binary, one subcommand per concern. Each subcommand reports a
// Status; main turns it into a message on stderr and an exit code.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/generate_command.h"
#include "cli/gradstats_command.h"
#include "cli/init_model_command.h"
#include "cli/tokenize_command.h"
#include "cli/weights_command.h"
#include "core/status.h"

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("deltarl");
  logger->set_pattern("deltarl: %^%l%$: %v");
  spdlog::set_default_logger(logger);

  CLI::App app{"deltarl: distributed RLVR training with exact, unbiased loss aggregation"};
  app.require_subcommand(1);
  deltarl::Status status;
  deltarl::register_weights_command(app, &status);
  deltarl::register_gradstats_command(app, &status);
  deltarl::register_generate_command(app, &status);
  deltarl::register_tokenize_command(app, &status);
  deltarl::register_init_model_command(app, &status);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (!status.ok()) {
    spdlog::error("{}", status.to_string());
    return status.exit_code();
  }
  return 0;
}
