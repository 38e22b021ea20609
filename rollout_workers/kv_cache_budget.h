// The rollout worker's default KV cache budget: a fraction of the memory free
// where the cache lives (the host's for the CPU, the GPU's for CUDA), divided
// among the processes that share it, so that workers and learners on one host
// do not each count the same free memory as their own.
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace deltarl {

// The fraction of free memory the workers' KV caches take together.
inline constexpr double kDefaultKvCacheFraction = 0.4;

// Processes sharing this host's memory: DELTARL_PROCESSES_PER_HOST (set by
// the learner for the workers it spawns: its ranks on the host plus the
// workers), else the MPI launcher's local size, else Slurm's tasks per node,
// else 1. InputError naming the variable when it is not a positive integer.
int64_t processes_sharing_host();

// kDefaultKvCacheFraction of the free memory of `device`, divided by `sharing`.
// For CUDA it needs a CUDA build of LibTorch (InputError otherwise, asking for
// --kv-cache-memory).
int64_t default_kv_cache_bytes(torch::Device device, int64_t sharing);

}  // namespace deltarl
