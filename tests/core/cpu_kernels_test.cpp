// The kernel level follows the CPU and the DELTARL_CPU_KERNELS cap, so the
// suite's variants (label `variants`, tests/CMakeLists.txt) really run the
// portable and AVX2 versions on a machine that has AVX-512.
#include "core/cpu_kernels.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/input_error.h"
#include "core/model/packed_linear.h"

namespace deltarl {
namespace {

CpuKernels best_of_this_cpu() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return CpuKernels::kAvx512;
  if (__builtin_cpu_supports("avx2")) return CpuKernels::kAvx2;
#endif
  return CpuKernels::kPortable;
}

std::string cap() {
  const char* value = std::getenv("DELTARL_CPU_KERNELS");
  return value == nullptr ? "" : value;
}

bool known_cap() {
  for (const char* known : {"", "native", "portable", "avx2", "avx512"}) {
    if (cap() == known) return true;
  }
  return false;
}

TEST(CpuKernels, FollowTheCpuAndTheCap) {
  if (!known_cap()) GTEST_SKIP() << "DELTARL_CPU_KERNELS=" << cap() << " is the rejection case";
  const CpuKernels best = best_of_this_cpu();
  CpuKernels expected = best;
  if (cap() == "portable") expected = CpuKernels::kPortable;
  if (cap() == "avx2" && best == CpuKernels::kAvx512) expected = CpuKernels::kAvx2;
  EXPECT_EQ(selected_cpu_kernels(), expected) << "cap \"" << cap() << "\", selected "
                                              << cpu_kernels_name(selected_cpu_kernels());
#if defined(__x86_64__)
  // The AVX2 kernel also needs FMA (every AVX2 CPU of the last decade has it).
  EXPECT_EQ(PackedLinear::supported(), expected == CpuKernels::kAvx512 ||
                                           (expected == CpuKernels::kAvx2 && __builtin_cpu_supports("fma")));
#endif
}

TEST(CpuKernels, AnUnknownCapIsAnInputErrorNamingTheVariable) {
  if (known_cap()) GTEST_SKIP() << "run with DELTARL_CPU_KERNELS set to an unknown value (ctest does)";
  try {
    selected_cpu_kernels();
    FAIL() << "DELTARL_CPU_KERNELS=" << cap() << " was accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("DELTARL_CPU_KERNELS=" + cap()), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace deltarl
