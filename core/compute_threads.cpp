#include "core/compute_threads.h"

#include <dlfcn.h>

namespace deltarl {

void release_compute_threads() {
  // Looked up at run time rather than linked: LibTorch brings its own OpenMP
  // runtime (Debian's libgomp, or the one bundled in the torch wheel), and the
  // pools to free are that runtime's.
  using PauseAll = int (*)(int);
  static const auto pause_all = reinterpret_cast<PauseAll>(dlsym(RTLD_DEFAULT, "omp_pause_resource_all"));
  constexpr int kOmpPauseSoft = 1;  // omp_pause_soft: threads go, state may be rebuilt
  if (pause_all != nullptr) pause_all(kOmpPauseSoft);
}

}  // namespace deltarl
