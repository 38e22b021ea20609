// StepWatchdog with a handler that records instead of aborting. Margins are
// generous: "fires" waits up to 10 s for a 0.2 s timeout, "does not fire" uses
// a 30 s timeout, so a loaded machine cannot flip a result.
#include "trainer/run/step_watchdog.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/input_error.h"

namespace deltarl {
namespace {

using namespace std::chrono_literals;

// The messages a watchdog's handler received, and a way to wait for one.
class RecordedTimeouts {
 public:
  StepWatchdog::TimeoutHandler handler() {
    return [this](const std::string& message) {
      std::lock_guard<std::mutex> lock(mutex_);
      messages_.push_back(message);
      arrived_.notify_all();
    };
  }
  // Waits up to `limit` for the first message; "" if none came.
  std::string wait_for_first(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    arrived_.wait_for(lock, limit, [this] { return !messages_.empty(); });
    return messages_.empty() ? std::string() : messages_.front();
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<std::string> messages_;
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(StepWatchdog, FiresNamingRankStepAndPhase) {
  RecordedTimeouts timeouts;
  StepWatchdog watchdog(/*timeout_seconds=*/0.2, /*rank=*/3, timeouts.handler(), /*report_grace_seconds=*/0);
  ASSERT_TRUE(watchdog.enabled());
  watchdog.enter(/*step=*/7, "rollouts");
  watchdog.enter(/*step=*/7, "forward-backward");  // same step: the clock keeps running
  const std::string message = timeouts.wait_for_first(10s);
  ASSERT_FALSE(message.empty()) << "no timeout within 10 s of a 0.2 s watchdog";
  EXPECT_TRUE(contains(message, "rank 3 ")) << message;
  EXPECT_TRUE(contains(message, "in step 7 ")) << message;
  EXPECT_TRUE(contains(message, "(phase \"forward-backward\"")) << message;
  EXPECT_TRUE(contains(message, "train.step_timeout_seconds = 0.2")) << message;
  EXPECT_EQ(timeouts.count(), 1u);
}

TEST(StepWatchdog, FiresOncePerStep) {
  RecordedTimeouts timeouts;
  StepWatchdog watchdog(/*timeout_seconds=*/0.2, /*rank=*/0, timeouts.handler(), /*report_grace_seconds=*/0);
  watchdog.enter(/*step=*/1, "checkpoint");
  ASSERT_FALSE(timeouts.wait_for_first(10s).empty());
  std::this_thread::sleep_for(600ms);  // three more timeouts' worth: still one report for step 1
  EXPECT_EQ(timeouts.count(), 1u);
}

TEST(StepWatchdog, WaitsTheReportGraceBeforeTheHandler) {
  RecordedTimeouts timeouts;
  StepWatchdog watchdog(/*timeout_seconds=*/0.2, /*rank=*/0, timeouts.handler(), /*report_grace_seconds=*/30);
  watchdog.enter(/*step=*/1, "exchange");
  std::this_thread::sleep_for(1s);  // past the timeout, well within the grace
  EXPECT_EQ(timeouts.count(), 0u);
}  // the destructor stops the thread during the grace, without calling the handler

TEST(StepWatchdog, DoesNotFireWhenStepsFinishInTime) {
  RecordedTimeouts timeouts;
  StepWatchdog watchdog(/*timeout_seconds=*/30, /*rank=*/0, timeouts.handler(), /*report_grace_seconds=*/0);
  for (int64_t step = 1; step <= 20; ++step) {
    watchdog.enter(step, "rollouts");
    watchdog.enter(step, "forward-backward");
    watchdog.enter(step, "publish");
    std::this_thread::sleep_for(10ms);
  }
  watchdog.idle();
  EXPECT_EQ(timeouts.count(), 0u);
}

TEST(StepWatchdog, EachStepHasItsOwnClock) {
  // 10 steps of 0.3 s each under a 2 s timeout: 3 s in all, no single step late.
  RecordedTimeouts timeouts;
  StepWatchdog watchdog(/*timeout_seconds=*/2, /*rank=*/0, timeouts.handler(), /*report_grace_seconds=*/0);
  for (int64_t step = 1; step <= 10; ++step) {
    watchdog.enter(step, "optimizer");
    std::this_thread::sleep_for(300ms);
  }
  watchdog.idle();
  EXPECT_EQ(timeouts.count(), 0u);
}

TEST(StepWatchdog, IdleDoesNotFire) {
  RecordedTimeouts timeouts;
  StepWatchdog watchdog(/*timeout_seconds=*/0.2, /*rank=*/0, timeouts.handler(), /*report_grace_seconds=*/0);
  watchdog.enter(/*step=*/1, "publish");
  watchdog.idle();
  EXPECT_TRUE(timeouts.wait_for_first(1s).empty()) << "fired while idle";
  // After idle, entering the same step number starts a fresh clock.
  watchdog.enter(/*step=*/1, "evaluation");
  EXPECT_TRUE(contains(timeouts.wait_for_first(10s), "(phase \"evaluation\""));
}

TEST(StepWatchdog, ZeroTimeoutIsOff) {
  RecordedTimeouts timeouts;
  StepWatchdog watchdog(/*timeout_seconds=*/0, /*rank=*/0, timeouts.handler(), /*report_grace_seconds=*/0);
  EXPECT_FALSE(watchdog.enabled());
  watchdog.enter(/*step=*/1, "rollouts");
  EXPECT_TRUE(timeouts.wait_for_first(1s).empty());
}

TEST(StepWatchdog, RejectsNegativeTimeout) {
  EXPECT_THROW(StepWatchdog(/*timeout_seconds=*/-1, /*rank=*/0, [](const std::string&) {}), std::invalid_argument);
}

// The test-only stall switch: enter() on the named rank, step and phase sleeps.
class StepWatchdogStall : public testing::Test {
 protected:
  void TearDown() override { unsetenv("DELTARL_TEST_STALL"); }
};

TEST_F(StepWatchdogStall, StallsOnlyTheNamedRankStepAndPhase) {
  setenv("DELTARL_TEST_STALL", "1:2:forward-backward:1", /*overwrite=*/1);
  RecordedTimeouts timeouts;
  StepWatchdog other_rank(/*timeout_seconds=*/0, /*rank=*/0, timeouts.handler());
  StepWatchdog named_rank(/*timeout_seconds=*/0.2, /*rank=*/1, timeouts.handler(), /*report_grace_seconds=*/0);
  auto seconds_in_enter = [](StepWatchdog& watchdog, int64_t step, const char* phase) {
    const auto started = std::chrono::steady_clock::now();
    watchdog.enter(step, phase);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  EXPECT_LT(seconds_in_enter(other_rank, 2, "forward-backward"), 0.5);
  EXPECT_LT(seconds_in_enter(named_rank, 1, "forward-backward"), 0.5);
  EXPECT_LT(seconds_in_enter(named_rank, 2, "rollouts"), 0.5);
  EXPECT_GE(seconds_in_enter(named_rank, 2, "forward-backward"), 0.9);  // the 1 s stall
  // The stall happened inside the step, so the watchdog saw it.
  EXPECT_TRUE(contains(timeouts.wait_for_first(10s), "rank 1 "));
}

TEST_F(StepWatchdogStall, MalformedValueNamesTheVariable) {
  for (const char* bad : {"1:2", "x:2:forward-backward", "1:2:forward-backward:forever", "-1:2:rollouts"}) {
    setenv("DELTARL_TEST_STALL", bad, /*overwrite=*/1);
    try {
      StepWatchdog watchdog(/*timeout_seconds=*/1, /*rank=*/0, [](const std::string&) {});
      ADD_FAILURE() << bad << " was accepted";
    } catch (const InputError& error) {
      EXPECT_TRUE(contains(error.what(), "DELTARL_TEST_STALL")) << error.what();
    }
  }
}

}  // namespace
}  // namespace deltarl
