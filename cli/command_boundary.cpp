#include "cli/command_boundary.h"

#include "core/exception_status.h"

namespace deltarl {

std::string parsed_command_name(const CLI::App& app) {
  std::string name;
  const CLI::App* level = &app;
  while (true) {
    const std::vector<CLI::App*> parsed = level->get_subcommands();
    if (parsed.empty()) break;
    level = parsed.front();
    name += (name.empty() ? "" : " ") + level->get_name();
  }
  return name.empty() ? "deltarl" : name;
}

Status escaped_exception_status(const std::string& command) {
  const Status cause = current_exception_status("");
  if (cause.code() == StatusCode::kInvalidArgument) {
    return Status(StatusCode::kInvalidArgument, "deltarl " + command + ": " + cause.message());
  }
  return Status(StatusCode::kInternal, "deltarl " + command + " failed mid-run: " + cause.message());
}

}  // namespace deltarl
