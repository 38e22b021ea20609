// exception_status: the Status for the exception being handled, for the
// boundaries where nothing may be thrown on (a CLI command, a gRPC handler, the
// rollout engine's thread). InputError is the caller's input (kInvalidArgument);
// anything else is a failure here (kInternal), its message kept and named.
//
//   try { ... } catch (...) { return current_exception_status("generating group 3"); }
#pragma once

#include <string>

#include "core/status.h"

namespace deltarl {

// Call only inside a catch block. The message is "<context>: <what()>" (LibTorch's
// errors without their C++ backtrace; std::bad_alloc says "out of memory").
Status current_exception_status(const std::string& context);

}  // namespace deltarl
