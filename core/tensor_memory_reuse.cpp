#include "core/tensor_memory_reuse.h"

#include <cstdlib>  // defines __GLIBC__ under glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace deltarl {

void keep_freed_tensor_memory() {
#if defined(__GLIBC__)
  // Fixing the thresholds also turns off glibc's own adjustment of them.
  constexpr int kLargestHeapBlock = 32 << 20;  // glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
  constexpr int kKeptFreeTop = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kLargestHeapBlock);
  mallopt(M_TRIM_THRESHOLD, kKeptFreeTop);
#endif
}

}  // namespace deltarl
