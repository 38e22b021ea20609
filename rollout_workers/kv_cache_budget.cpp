#include "rollout_workers/kv_cache_budget.h"

#include <cstdlib>
#include <string>

#ifdef DELTARL_TORCH_HAS_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

#include "core/input_error.h"
#include "core/memory_size.h"

namespace deltarl {

int64_t processes_sharing_host() {
  for (const char* name : {"DELTARL_PROCESSES_PER_HOST", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    char* end = nullptr;
    const long long count = std::strtoll(value, &end, 10);
    // Slurm writes "4(x2)" for uneven nodes: the leading count is this node's kind.
    if (count < 1 || (end != nullptr && *end != '\0' && *end != '(')) {
      throw InputError(std::string(name) + "=\"" + value + "\" is not a positive process count");
    }
    return count;
  }
  return 1;
}

int64_t default_kv_cache_bytes(torch::Device device, int64_t sharing) {
  int64_t free_bytes = 0;
  if (device.is_cuda()) {
#ifdef DELTARL_TORCH_HAS_CUDA
    const c10::cuda::CUDAGuard on_device(device);
    size_t free_memory = 0, total_memory = 0;
    if (cudaMemGetInfo(&free_memory, &total_memory) != cudaSuccess) {
      throw InputError("cannot read the free memory of " + device.str() + "; give --kv-cache-memory");
    }
    free_bytes = static_cast<int64_t>(free_memory);
#else
    throw InputError("this build cannot read a GPU's free memory; give --kv-cache-memory (e.g. 20GiB)");
#endif
  } else {
    free_bytes = available_host_memory_bytes();
  }
  return static_cast<int64_t>(static_cast<double>(free_bytes) * kDefaultKvCacheFraction) / std::max<int64_t>(1, sharing);
}

}  // namespace deltarl
