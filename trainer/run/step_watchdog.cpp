#include "trainer/run/step_watchdog.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "core/input_error.h"
#include "core/log.h"

namespace deltarl {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kStallVariable = "DELTARL_TEST_STALL";
constexpr double kDefaultStallSeconds = 600;  // bounded: a test that forgets its timeout still ends

Clock::duration to_duration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string one_decimal(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", seconds);
  return text;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream stream(text);
  while (std::getline(stream, field, separator)) fields.push_back(field);
  if (!text.empty() && text.back() == separator) fields.emplace_back();
  return fields;
}

// A whole decimal number of `field`, or throws naming the variable.
template <typename T>
T parse_number(const std::string& field, const std::string& value, const char* what) {
  std::istringstream stream(field);
  T number{};
  if (field.empty() || !(stream >> number) || !stream.eof()) {
    throw InputError(std::string(kStallVariable) + "=\"" + value + "\": " + what + " \"" + field +
                     "\" is not a number (expected RANK:STEP:PHASE[:SECONDS], e.g. 1:2:forward-backward)");
  }
  return number;
}

}  // namespace

StepWatchdog::StepWatchdog(double timeout_seconds, int rank, TimeoutHandler on_timeout, double report_grace_seconds)
    : timeout_(std::isfinite(timeout_seconds) && timeout_seconds > 0 ? to_duration(timeout_seconds)
                                                                      : Clock::duration::zero()),
      report_grace_(std::isfinite(report_grace_seconds) && report_grace_seconds > 0 ? to_duration(report_grace_seconds)
                                                                                     : Clock::duration::zero()),
      timeout_seconds_(timeout_seconds),
      rank_(rank),
      on_timeout_(std::move(on_timeout)) {
  if (!std::isfinite(timeout_seconds) || timeout_seconds < 0) {
    throw std::invalid_argument("StepWatchdog: timeout_seconds must be finite and >= 0 (0 = off), got " +
                                std::to_string(timeout_seconds));
  }
  if (!std::isfinite(report_grace_seconds) || report_grace_seconds < 0) {
    throw std::invalid_argument("StepWatchdog: report_grace_seconds must be finite and >= 0, got " +
                                std::to_string(report_grace_seconds));
  }
  if (const char* stall = std::getenv(kStallVariable); stall != nullptr && *stall != '\0') {
    const std::string value = stall;
    const auto fields = split(value, ':');
    if (fields.size() < 3 || fields.size() > 4 || fields[2].empty()) {
      throw InputError(std::string(kStallVariable) + "=\"" + value +
                       "\": expected RANK:STEP:PHASE[:SECONDS], e.g. 1:2:forward-backward (a test-only switch)");
    }
    stall_rank_ = parse_number<int>(fields[0], value, "RANK");
    stall_step_ = parse_number<int64_t>(fields[1], value, "STEP");
    stall_phase_ = fields[2];
    stall_seconds_ = fields.size() == 4 ? parse_number<double>(fields[3], value, "SECONDS") : kDefaultStallSeconds;
    if (stall_rank_ < 0 || !std::isfinite(stall_seconds_) || stall_seconds_ < 0 ||
        stall_seconds_ > kDefaultStallSeconds) {
      throw InputError(std::string(kStallVariable) + "=\"" + value + "\": RANK must be >= 0 and SECONDS in [0, " +
                       one_decimal(kDefaultStallSeconds) + "]");
    }
  }
  if (enabled()) thread_ = std::thread([this] { watch(); });
}

StepWatchdog::~StepWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StepWatchdog::enter(int64_t step, const char* phase) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = Clock::now();
    if (!in_step_ || step != step_) {
      in_step_ = true;
      fired_ = false;
      step_ = step;
      step_started_ = now;
    }
    phase_ = phase;
    phase_started_ = now;
  }
  changed_.notify_all();
  stall_if_requested(step, phase);
}

void StepWatchdog::idle() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in_step_ = false;
  }
  changed_.notify_all();
}

std::string StepWatchdog::timeout_message(Clock::time_point now) const {
  std::ostringstream timeout;
  timeout << timeout_seconds_;
  return "step watchdog: rank " + std::to_string(rank_) + " spent " + one_decimal(seconds_between(step_started_, now)) +
         " s in step " + std::to_string(step_) + " (phase \"" + phase_ + "\" for the last " +
         one_decimal(seconds_between(phase_started_, now)) + " s) > train.step_timeout_seconds = " + timeout.str() +
         "; aborting the job. Every rank reports where it is: a rank outside a collective phase is likely the one "
         "that hung (a stuck device, a stalled rollout worker, a slow file system), the others wait for it in the "
         "next collective. If steps are merely slow, raise train.step_timeout_seconds (0 turns the watchdog off).";
}

void StepWatchdog::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (!in_step_ || fired_) {
      changed_.wait(lock);
      continue;
    }
    const auto deadline = step_started_ + timeout_;
    const auto now = Clock::now();
    if (now < deadline) {
      changed_.wait_until(lock, deadline);
      continue;
    }
    fired_ = true;
    const std::string message = timeout_message(now);
    lock.unlock();
    log_error(message);
    lock.lock();
    // Note [Every rank reports]: the other ranks log theirs before anyone aborts.
    if (changed_.wait_for(lock, report_grace_, [this] { return stopping_; })) break;
    lock.unlock();
    on_timeout_(message);
    lock.lock();
  }
}

void StepWatchdog::stall_if_requested(int64_t step, const char* phase) const {
  if (stall_rank_ != rank_ || stall_step_ != step || stall_phase_ != phase) return;
  log_warning(std::string(kStallVariable) + ": rank " + std::to_string(rank_) + " stalls " +
              one_decimal(stall_seconds_) + " s in step " + std::to_string(step) + " (phase \"" + phase +
              "\"), as a test asked");
  std::this_thread::sleep_for(to_duration(stall_seconds_));
}

}  // namespace deltarl
