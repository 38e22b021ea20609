// Which instruction-set version of deltarl's own CPU kernels runs: the fused
// inference kernels (core/model/inference_kernels.h), the packed products
// (core/model/packed_linear.h) and CRC32C (core/crc32c.h). Each kernel has a
// portable version and faster ones for AVX2 or AVX-512; the best the CPU can
// run is chosen once per process, capped by the environment variable
//
//   DELTARL_CPU_KERNELS=portable | avx2 | avx512 | native   (default: native)
//
// so that every code path a CPU can take is testable on one machine: on an
// AVX-512 machine `avx2` runs what a CPU without AVX-512 runs, `portable` what
// any x86-64 or Arm CPU runs. LibTorch's and the BLAS's own kernels have their
// own switches (ATEN_CPU_CAPABILITY, OPENBLAS_CORETYPE,
// MKL_ENABLE_INSTRUCTIONS); docs/testing.md lists the combinations the suite runs.
#pragma once

namespace deltarl {

enum class CpuKernels { kPortable, kAvx2, kAvx512 };

// The level in force: min(what this CPU and build support, DELTARL_CPU_KERNELS).
// Read once; a value other than the four above throws InputError naming the
// variable, on every call.
CpuKernels selected_cpu_kernels();

// "portable", "avx2" or "avx512".
const char* cpu_kernels_name(CpuKernels kernels);

}  // namespace deltarl
