#include "trainer/run/stop_signal.h"

#include <signal.h>

#include <atomic>
#include <initializer_list>

namespace deltarl {

namespace {

std::atomic<int> received_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void record_stop_signal(int number) { received_signal.store(number); }

}  // namespace

void StopSignal::install() {
  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int number : {SIGTERM, SIGINT, SIGUSR1}) sigaction(number, &action, nullptr);
}

bool StopSignal::requested() { return received_signal.load() != 0; }
int StopSignal::signal_number() { return received_signal.load(); }
void StopSignal::reset() { received_signal.store(0); }

}  // namespace deltarl
