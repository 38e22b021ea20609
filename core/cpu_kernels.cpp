#include "core/cpu_kernels.h"

#include <cstdlib>
#include <optional>
#include <string>

#include "core/input_error.h"

namespace deltarl {
namespace {

CpuKernels best_supported() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx512f")) return CpuKernels::kAvx512;
  if (__builtin_cpu_supports("avx2")) return CpuKernels::kAvx2;
#endif
  return CpuKernels::kPortable;
}

// nullopt: the variable holds something else (reported on use, not at load,
// so that the error reaches a command's boundary and names the variable).
std::optional<CpuKernels> select() {
  const CpuKernels best = best_supported();
  const char* value = std::getenv("DELTARL_CPU_KERNELS");
  if (value == nullptr || *value == '\0' || std::string(value) == "native") return best;
  const std::string cap = value;
  CpuKernels requested;
  if (cap == "portable") {
    requested = CpuKernels::kPortable;
  } else if (cap == "avx2") {
    requested = CpuKernels::kAvx2;
  } else if (cap == "avx512") {
    requested = CpuKernels::kAvx512;
  } else {
    return std::nullopt;
  }
  return static_cast<int>(requested) < static_cast<int>(best) ? requested : best;
}

}  // namespace

CpuKernels selected_cpu_kernels() {
  static const std::optional<CpuKernels> selected = select();
  if (!selected) {
    throw InputError(std::string("DELTARL_CPU_KERNELS=") + std::getenv("DELTARL_CPU_KERNELS") +
                     " is not one of portable, avx2, avx512, native (unset it to use the best this CPU has)");
  }
  return *selected;
}

const char* cpu_kernels_name(CpuKernels kernels) {
  switch (kernels) {
    case CpuKernels::kPortable: return "portable";
    case CpuKernels::kAvx2: return "avx2";
    case CpuKernels::kAvx512: return "avx512";
  }
  return "unknown";
}

}  // namespace deltarl
