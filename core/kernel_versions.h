// How deltarl's own CPU kernels are built in several instruction-set versions:
// a loop is written once as a DELTARL_KERNEL_BODY function (always inlined),
// then wrapped by three functions, plain, DELTARL_TARGET_AVX2 and
// DELTARL_TARGET_AVX512 (with GCC or Clang on x86-64 these compile the loop
// for those instruction sets; elsewhere they are empty and the three are the
// same), and pick_kernel_version() returns the one core/cpu_kernels.h selects
// for this process.
#pragma once

#include "core/cpu_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define DELTARL_KERNEL_VERSIONS 1
#define DELTARL_TARGET_AVX2 __attribute__((target("avx2")))
#define DELTARL_TARGET_AVX512 __attribute__((target("avx512f")))
#else
#define DELTARL_TARGET_AVX2
#define DELTARL_TARGET_AVX512
#endif
#define DELTARL_KERNEL_BODY __attribute__((always_inline)) inline

namespace deltarl {

template <typename Version>
const Version& pick_kernel_version(const Version& portable, [[maybe_unused]] const Version& avx2,
                                   [[maybe_unused]] const Version& avx512) {
#if defined(DELTARL_KERNEL_VERSIONS)
  switch (selected_cpu_kernels()) {
    case CpuKernels::kAvx512: return avx512;
    case CpuKernels::kAvx2: return avx2;
    case CpuKernels::kPortable: break;
  }
#endif
  return portable;
}

}  // namespace deltarl
