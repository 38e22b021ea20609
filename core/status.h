// Status: the result of an operation that crosses a process or RPC boundary
// (a CLI command, later a gRPC handler). Inside the trainer, bad input throws
// InputError (core/input_error.h); the boundary catches it into a Status.
//
//   Status s = run_weights_command(options);
//   if (!s.ok()) { log(s.to_string()); return s.exit_code(); }
#pragma once

#include <string>
#include <utility>

namespace deltarl {

enum class StatusCode {
  kOk,
  kInvalidArgument,    // the caller's input is wrong: a config, a file, a field.
  kNotFound,           // a named file or resource does not exist.
  kFailedPrecondition, // the system is not in a state to do this (e.g. MPI not initialized).
  kUnavailable,        // a peer or device is unreachable; retrying may help.
  kDataLoss,           // stored data is corrupt or truncated.
  kInternal,           // a broken invariant: a bug in deltarl.
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK.
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "INVALID_ARGUMENT: <message>", or "OK".
  std::string to_string() const;

  // Process exit code for this status: 0 OK, 2 bad input, 1 anything else.
  int exit_code() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace deltarl
