// Communicator: the one interface the trainer uses for tensor collectives across
// learner ranks. MpiCommunicator carries CPU tensors, NcclCommunicator CUDA tensors;
// SingleProcessCommunicator is the world-size-1 identity. Trainer code is written
// once against this interface: only the communicator differs between CPU and GPU.
//
// Every collective here must be called by ALL ranks of the communicator, in the
// same order, with tensors of the same shape and dtype on every rank; a rank that
// skips or reorders one deadlocks or corrupts the others.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace deltarl {

class Communicator {
 public:
  // Buckets of this many bytes are flattened into one collective call (as DDP's 25 MiB).
  static constexpr int64_t kDefaultBucketBytes = int64_t{25} << 20;

  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Where this communicator's tensors must live (kCPU for MPI, kCUDA:i for NCCL).
  virtual torch::Device device() const = 0;

  // In place: tensor ← Σ over ranks of tensor. Requires a contiguous tensor on
  // device(). Collective.
  virtual void all_reduce_sum(torch::Tensor& tensor) = 0;

  // In place, for each tensor: tensor ← Σ over ranks. Tensors are grouped into
  // buckets of up to `bucket_bytes` (same dtype), each flattened into one
  // all-reduce and copied back, so thousands of small gradients cost a few calls.
  // Tensors need not be contiguous. Collective.
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors,
                      int64_t bucket_bytes = kDefaultBucketBytes);

  // In place: every rank's tensor ← root's tensor. Contiguous, on device(). Collective.
  virtual void broadcast(torch::Tensor& tensor, int root) = 0;

  // Returns a tensor of shape (world_size, *tensor.shape) whose row r is rank r's
  // tensor. Same shape on every rank. Collective.
  virtual torch::Tensor all_gather(const torch::Tensor& tensor) = 0;

  // The two halves of an all-reduce, for sharded optimizer state (ZeRO,
  // trainer/algorithm/flat_gradients.h). Both take flat tensors: `input` and
  // `output` contiguous on device(), one dtype, shard size n = output.numel()
  // for reduce_scatter_sum and n = input.numel() for all_gather_into.
  //
  // output (n,) ← Σ over ranks of input[rank·n, (rank+1)·n), input (world_size·n,).
  // Sums in the tensors' dtype, except that bf16/f16 are summed in fp32 where
  // the transport has no such type (MPI). Collective.
  virtual void reduce_scatter_sum(const torch::Tensor& input, torch::Tensor& output) = 0;
  // output (world_size·n,)[r·n, (r+1)·n) ← rank r's input (n,). Collective.
  virtual void all_gather_into(const torch::Tensor& input, torch::Tensor& output) = 0;

  // Returns when every rank has called it. Collective.
  virtual void barrier() = 0;

 protected:
  // Throws naming `operation` unless the shapes above hold (n = shard).
  void check_shard_shapes(const torch::Tensor& whole, const torch::Tensor& shard, const char* operation) const;
};

}  // namespace deltarl
