// MpiCommunicator: the Communicator for CPU tensors, over an MPI communicator
// (MPI_COMM_WORLD by default). It duplicates the communicator it is given, so its
// traffic never matches another library's messages, and frees it on destruction.
// Move-only. Requires a live MpiEnvironment.
//
// bf16/f16 tensors are summed in fp32 (MPI has no such types) and cast back.
//
// fp32 and fp64 sums are taken in rank order, ((x₀ + x₁) + x₂) + …, by this
// class rather than by MPI_SUM, whose order depends on Open MPI's choice of
// algorithm for the message size and world size. So an element's sum has the
// same bits whether all_reduce_sum or reduce_scatter_sum took it, and
// wherever it lies in the buffer: ZeRO stage 2 (reduce-scatter) updates
// exactly as stages 0 and 1 (all-reduce) do. The traffic is an all-reduce's
// (a reduce-scatter by point-to-point messages, then MPI_Allgatherv).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

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
  // Floating point in rank order, integers by MPI_Reduce_scatter_block.
  void reduce_scatter_sum(const torch::Tensor& input, torch::Tensor& output) override;
  void all_gather_into(const torch::Tensor& input, torch::Tensor& output) override;
  void barrier() override;

  // The underlying (duplicated) MPI communicator, for bootstrapping others (NCCL).
  MPI_Comm handle() const { return comm_; }

 // A rank's contiguous range of a flat tensor, in elements.
  struct Range {
    int64_t begin = 0, length = 0;
  };

 private:
  // own (ranges[rank].length,) ← Σ over ranks r, in rank order, of rank r's
  // input[ranges[rank]]: every rank sends each peer its range of `input` in
  // blocks and sums what it receives. `own` may be input's own range. Collective.
  void sum_in_rank_order(const torch::Tensor& input, const std::vector<Range>& ranges, torch::Tensor& own);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int world_size_ = 1;
};

}  // namespace deltarl
