// Cross-rank agreement on failure: the one way ranks learn that work which
// may fail on some ranks only (reading a file, loading a model, a round of
// rollouts) failed anywhere, so that no rank walks into the next collective
// while another has given up and the job hangs.
//
//   agree_or_throw(host, "loading the model", [&] { model = load(...); });
//
// If the body throws on any rank, every rank throws: the failing rank its own
// exception, the others one naming the lowest failing rank. An InputError
// anywhere makes the others' exception an InputError too, so bad input is
// reported as bad input on every rank.
#pragma once

#include <exception>
#include <string>

#include "trainer/comm/communicator.h"

namespace deltarl {

// Which rank failed first, as every rank agreed.
struct AgreedFailure {
  int first_failed_rank = -1;  // -1: no rank failed
  bool input_error = false;    // some rank's failure was bad input
  bool any() const { return first_failed_rank >= 0; }
  // "<what> failed on rank R (see that rank's message)".
  std::string describe(const std::string& what) const;
};

// Collective over `host` (a CPU communicator): one all-gather of two numbers.
AgreedFailure agree_on_failure(Communicator& host, bool failed_here, bool input_error_here);

// Collective: rethrows `error` where it is set; elsewhere throws the failure
// agree_on_failure found (InputError or std::runtime_error); returns only when
// no rank failed.
void rethrow_agreed(Communicator& host, const std::string& what, std::exception_ptr error);

// Collective: runs `body` on this rank, then rethrow_agreed.
template <typename Body>
void agree_or_throw(Communicator& host, const std::string& what, Body&& body) {
  std::exception_ptr error;
  try {
    body();
  } catch (...) {
    error = std::current_exception();
  }
  rethrow_agreed(host, what, error);
}

}  // namespace deltarl
