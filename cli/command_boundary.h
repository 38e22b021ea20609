// command_boundary: where an exception thrown by a deltarl command stops. main()
// parses (and so runs) the command inside one try; whatever escapes the
// command's own handling becomes a Status naming the command and the cause, and
// the process exits with its code instead of aborting in std::terminate.
//
//   try { app.parse(argc, argv); }
//   catch (const CLI::ParseError& error) { return app.exit(error); }
//   catch (...) { status = escaped_exception_status(parsed_command_name(app)); }
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

// The subcommand CLI11 parsed, with its own subcommands ("train", "data
// countdown"); "deltarl" when none was parsed yet.
std::string parsed_command_name(const CLI::App& app);

// Call only inside a catch block. An InputError is bad input: kInvalidArgument
// (exit 2), "deltarl <command>: <message>". Anything else failed mid-run:
// kInternal (exit 1), "deltarl <command> failed mid-run: <cause>" (LibTorch's
// errors without their C++ backtrace).
Status escaped_exception_status(const std::string& command);

}  // namespace deltarl
