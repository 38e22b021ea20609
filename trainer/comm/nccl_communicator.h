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

  void all_reduce_sum(torch::Tensor& tensor) override;
  using Communicator::all_reduce_sum;
  void broadcast(torch::Tensor& tensor, int root) override;
  torch::Tensor all_gather(const torch::Tensor& tensor) override;
  void barrier() override;

 private:
  // Makes the NCCL stream wait for the caller's stream; returns the caller's stream.
  cudaStream_t begin_collective();
  // Makes the caller's stream wait for the NCCL stream.
  void end_collective(cudaStream_t caller_stream);
  void release() noexcept;

  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t inputs_ready_ = nullptr;
  cudaEvent_t collective_done_ = nullptr;
  int device_index_ = 0;
  int rank_ = 0;
  int world_size_ = 1;
};

}  // namespace deltarl
