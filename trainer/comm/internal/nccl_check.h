// DELTARL_NCCL_CHECK / DELTARL_CUDA_CHECK: run an NCCL or CUDA runtime call and,
// on failure, throw std::runtime_error with the file, line and the library's own
// message (ncclGetErrorString / cudaGetErrorString, and NCCL's last error).
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <stdexcept>
#include <string>

namespace deltarl::internal {

[[noreturn]] inline void throw_nccl_error(ncclResult_t code, ncclComm_t comm, const char* call,
                                          const char* file, int line) {
  std::string detail = ncclGetErrorString(code);
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0') detail += std::string(" (") + last + ")";
#else
  (void)comm;
#endif
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                           " failed: " + detail +
                           ". This may indicate a crashed peer rank, mismatched NCCL versions "
                           "across hosts, or a network set-up issue (try NCCL_DEBUG=INFO).");
}

[[noreturn]] inline void throw_cuda_error(cudaError_t code, const char* call, const char* file,
                                          int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                           " failed: " + cudaGetErrorName(code) + ": " + cudaGetErrorString(code));
}

}  // namespace deltarl::internal

#define DELTARL_NCCL_CHECK(call, comm)                                                    \
  do {                                                                                    \
    const ncclResult_t deltarl_nccl_code = (call);                                        \
    if (deltarl_nccl_code != ncclSuccess)                                                 \
      ::deltarl::internal::throw_nccl_error(deltarl_nccl_code, (comm), #call, __FILE__, __LINE__); \
  } while (0)

#define DELTARL_CUDA_CHECK(call)                                                          \
  do {                                                                                    \
    const cudaError_t deltarl_cuda_code = (call);                                         \
    if (deltarl_cuda_code != cudaSuccess)                                                 \
      ::deltarl::internal::throw_cuda_error(deltarl_cuda_code, #call, __FILE__, __LINE__); \
  } while (0)
