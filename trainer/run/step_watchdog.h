// StepWatchdog: turns a training step that hangs into a named failure. A thread
// of its own watches the step the run says it is in; when one step has lasted
// longer than its timeout, it logs which rank, step and phase, and calls the
// handler, which aborts the job (MpiEnvironment::abort_all(kStepTimeoutExitCode)).
//
//   StepWatchdog watchdog(config.train.step_timeout_seconds(), rank,
//                         [](const std::string&) { MpiEnvironment::abort_all(kStepTimeoutExitCode); });
//   for (step ...) {
//     watchdog.enter(step, "rollouts");   // the step's clock starts
//     ...
//     watchdog.enter(step, "forward-backward");
//     ...
//   }
//   watchdog.idle();                      // after the loop: nothing to watch
//
// The watchdog itself touches no MPI, no CUDA and no LibTorch: the handler decides
// what a timeout does. See Note [Every rank reports] for what the job's log shows.
//
// Test-only switch: DELTARL_TEST_STALL="RANK:STEP:PHASE[:SECONDS]" makes enter() on
// that rank sleep SECONDS (default 600) when it enters that step and phase, so a
// test can make one rank hang (tests/trainer/training/step_watchdog.sh). A value
// that does not parse is an InputError naming the variable. Not for production use.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace deltarl {

// Note [Every rank reports]
// A rank that hangs (a stuck device, a stalled worker, a deadlock) leaves the
// others waiting in the next collective, so every rank's watchdog fires at about
// the same moment, each naming its own phase: the rank outside a collective phase
// is the one that hung. The first handler to run ends the job, so each watchdog
// logs its message, then waits `report_grace_seconds` before calling the handler:
// the other ranks, whose steps began a little earlier or later, log theirs too.

class StepWatchdog {
 public:
  using TimeoutHandler = std::function<void(const std::string& message)>;

  // Seconds between the timeout message and the handler; Note [Every rank reports].
  static constexpr double kDefaultReportGraceSeconds = 10.0;

  // Watches steps of this `rank` for `timeout_seconds` (> 0; 0 turns the watchdog
  // off: no thread, enter() and idle() only record). `on_timeout` runs on the
  // watchdog's thread with the message, at most once per step, after the message
  // was logged (log_error) and `report_grace_seconds` have passed. It may end the
  // process; if it returns, the watchdog waits for the next step.
  // Throws std::invalid_argument for a negative or non-finite timeout or grace,
  // InputError for a DELTARL_TEST_STALL that does not parse.
  StepWatchdog(double timeout_seconds, int rank, TimeoutHandler on_timeout,
               double report_grace_seconds = kDefaultReportGraceSeconds);
  // Stops and joins the thread (without calling the handler).
  ~StepWatchdog();
  StepWatchdog(const StepWatchdog&) = delete;
  StepWatchdog& operator=(const StepWatchdog&) = delete;
  StepWatchdog(StepWatchdog&&) = delete;
  StepWatchdog& operator=(StepWatchdog&&) = delete;

  // The step begins (`step` differs from the current one, or the watchdog was
  // idle: its clock starts now) or moves to the named `phase` ("rollouts",
  // "exchange", "forward-backward", "gradient all-reduce", "checkpoint", ...).
  // Cheap: a mutex and a string copy. Called from the step's own thread.
  void enter(int64_t step, const char* phase);
  // Between steps and after the loop: no timeout until the next enter().
  void idle();

  bool enabled() const { return timeout_ > std::chrono::steady_clock::duration::zero(); }

 private:
  void watch();
  // The message for the step being watched; requires mutex_ held.
  std::string timeout_message(std::chrono::steady_clock::time_point now) const;
  void stall_if_requested(int64_t step, const char* phase) const;

  const std::chrono::steady_clock::duration timeout_;
  const std::chrono::steady_clock::duration report_grace_;
  const double timeout_seconds_;
  const int rank_;
  const TimeoutHandler on_timeout_;

  // DELTARL_TEST_STALL, parsed once; stall_rank_ < 0 when unset.
  int stall_rank_ = -1;
  int64_t stall_step_ = 0;
  std::string stall_phase_;
  double stall_seconds_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool in_step_ = false;
  bool fired_ = false;                 // the handler ran (or is about to) for this step
  bool stopping_ = false;
  int64_t step_ = 0;
  std::string phase_;
  std::chrono::steady_clock::time_point step_started_;
  std::chrono::steady_clock::time_point phase_started_;
  std::thread thread_;                 // last: starts after every member above exists
};

}  // namespace deltarl
