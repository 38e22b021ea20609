#include "core/compute_threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace deltarl {

int available_cpus() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0) return std::max(1, CPU_COUNT(&mask));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

void release_compute_threads() {
  // Looked up at run time rather than linked: LibTorch brings its own OpenMP
  // runtime (Debian's libgomp, or the one bundled in the torch wheel), and the
  // pools to free are that runtime's.
  using PauseAll = int (*)(int);
  static const auto pause_all = reinterpret_cast<PauseAll>(dlsym(RTLD_DEFAULT, "omp_pause_resource_all"));
  constexpr int kOmpPauseSoft = 1;  // omp_pause_soft: threads go, state may be rebuilt
  if (pause_all != nullptr) pause_all(kOmpPauseSoft);
}

int parallel_for_threads() {
  std::atomic<int> chunks{0};  // one chunk per thread that took part
  at::parallel_for(0, 1 << 20, /*grain_size=*/1, [&](int64_t, int64_t) { ++chunks; });
  return chunks.load();
}

}  // namespace deltarl
