#include "core/tensor_memory_reuse.h"

#include <cstdlib>  // defines __GLIBC__ under glibc
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace deltarl {

bool keep_freed_tensor_memory() {
#if defined(__GLIBC__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if ((tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) ||
      std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) {
    return false;
  }
  // Fixing the thresholds also turns off glibc's own adjustment of them.
  constexpr int kLargestHeapBlock = 32 << 20;  // glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
  constexpr int kKeptFreeTop = 1 << 30;
  return mallopt(M_MMAP_THRESHOLD, kLargestHeapBlock) == 1 && mallopt(M_TRIM_THRESHOLD, kKeptFreeTop) == 1;
#else
  return false;
#endif
}

}  // namespace deltarl
