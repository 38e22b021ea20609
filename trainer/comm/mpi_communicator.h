// MpiCommunicator: the Communicator for CPU tensors, over an MPI communicator
// (MPI_COMM_WORLD by default). It duplicates the communicator it is given, so its
// traffic never matches another library's messages, and frees it on destruction.
// Move-only. Requires a live MpiEnvironment.
//
// bf16/f16 tensors are summed in fp32 (MPI has no such types) and cast back.
#pragma once

#include <mpi.h>

#include "trainer/comm/communicator.h"

namespace deltarl {

class MpiCommunicator final : public Communicator {
 public:
  // Collective over `base`: every rank of it must construct one.
  explicit MpiCommunicator(MPI_Comm base = MPI_COMM_WORLD);
  ~MpiCommunicator() override;
  MpiCommunicator(MpiCommunicator&& other) noexcept;
  MpiCommunicator& operator=(MpiCommunicator&& other) noexcept;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  torch::Device device() const override { return torch::kCPU; }

  void all_reduce_sum(torch::Tensor& tensor) override;
  using Communicator::all_reduce_sum;
  void broadcast(torch::Tensor& tensor, int root) override;
  torch::Tensor all_gather(const torch::Tensor& tensor) override;
  // MPI_Reduce_scatter_block / MPI_Allgather; counts must fit MPI's int32.
  void reduce_scatter_sum(const torch::Tensor& input, torch::Tensor& output) override;
  void all_gather_into(const torch::Tensor& input, torch::Tensor& output) override;
  void barrier() override;

  // The underlying (duplicated) MPI communicator, for bootstrapping others (NCCL).
  MPI_Comm handle() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int world_size_ = 1;
};

}  // namespace deltarl
