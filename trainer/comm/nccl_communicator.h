// NcclCommunicator: the Communicator for CUDA tensors. One per learner rank, on
// the GPU picked by the local rank. Bootstrapped over MPI: rank 0 creates the
// NCCL unique id and broadcasts it; every rank then joins the NCCL communicator.
//
// Collectives run on the communicator's own CUDA stream, ordered after the work
// already queued on the caller's current stream by a CUDA event, and the caller's
// stream waits for the collective by another event: no host synchronization, and
// work queued after a call sees its result. Move-only; the destructor destroys
// the NCCL communicator, stream and events.
//
// Asynchronous errors (a peer that died, a network failure): NCCL reports them
// through ncclCommGetAsyncError, not through the call that enqueued the work.
// Every collective polls that state after its enqueue, barrier() polls it while
// it waits, and check_async_error() polls it on demand. On an error the NCCL
// communicator is aborted (ncclCommAbort, which also unblocks its kernels) and
// std::runtime_error names the rank and NCCL's message; every later call throws.
// Only compile-checked in CI (no GPUs there); the step watchdog
// (trainer/run/step_watchdog.h) still ends a job whose NCCL never reports.
//
// Compiled only when CUDA and NCCL are found (DELTARL_HAVE_NCCL).
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "trainer/comm/communicator.h"
#include "trainer/comm/mpi_communicator.h"

namespace deltarl {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap`: every rank must construct one. `device_index`
  // is the CUDA device this rank uses (usually its local rank).
  NcclCommunicator(const MpiCommunicator& bootstrap, int device_index);
  ~NcclCommunicator() override;
  NcclCommunicator(NcclCommunicator&& other) noexcept;
  NcclCommunicator& operator=(NcclCommunicator&& other) noexcept;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  torch::Device device() const override { return torch::Device(torch::kCUDA, device_index_); }

  // Collective: every rank must call these in the same order. Each throws
  // std::runtime_error naming the rank when NCCL reports an asynchronous error
  // (the communicator is then aborted).
  void all_reduce_sum(torch::Tensor& tensor) override;
  using Communicator::all_reduce_sum;
  void broadcast(torch::Tensor& tensor, int root) override;
  torch::Tensor all_gather(const torch::Tensor& tensor) override;
  // ncclReduceScatter (sum) / ncclAllGather on the communicator's stream.
  void reduce_scatter_sum(const torch::Tensor& input, torch::Tensor& output) override;
  void all_gather_into(const torch::Tensor& input, torch::Tensor& output) override;
  // Waits on the host for the barrier's all-reduce, polling for asynchronous
  // errors meanwhile instead of blocking in cudaStreamSynchronize.
  void barrier() override;

  // Not collective. Throws (after aborting the communicator) when NCCL has
  // recorded an asynchronous error, or when an earlier error aborted it.
  void check_async_error();

 private:
  // Makes the NCCL stream wait for the caller's stream; returns the caller's stream.
  cudaStream_t begin_collective(const char* operation);
  // Makes the caller's stream wait for the NCCL stream, then polls for errors.
  void end_collective(cudaStream_t caller_stream, const char* operation);
  // NCCL's asynchronous error state; ncclInProgress (non-blocking init) is no error.
  ncclResult_t async_error_state() const noexcept;
  // Aborts the communicator and throws the error `state` seen during `operation`.
  [[noreturn]] void abort_on_async_error(ncclResult_t state, const char* operation);
  void release() noexcept;

  ncclComm_t comm_ = nullptr;
  bool aborted_ = false;               // an asynchronous error aborted comm_
  cudaStream_t stream_ = nullptr;
  cudaEvent_t inputs_ready_ = nullptr;
  cudaEvent_t collective_done_ = nullptr;
  int device_index_ = 0;
  int rank_ = 0;
  int world_size_ = 1;
};

}  // namespace deltarl
