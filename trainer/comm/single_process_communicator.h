// SingleProcessCommunicator: the world-size-1 communicator. Every collective is
// the identity, so code written against Communicator runs unchanged in one
// process (the `deltarl weights` command, references in tests) without MPI.
#pragma once

#include "trainer/comm/communicator.h"

namespace deltarl {

class SingleProcessCommunicator final : public Communicator {
 public:
  explicit SingleProcessCommunicator(torch::Device device = torch::kCPU) : device_(device) {}

  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  torch::Device device() const override { return device_; }
  void all_reduce_sum(torch::Tensor&) override {}
  using Communicator::all_reduce_sum;
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor all_gather(const torch::Tensor& tensor) override { return tensor.unsqueeze(0).clone(); }
  void reduce_scatter_sum(const torch::Tensor& input, torch::Tensor& output) override {
    check_shard_shapes(input, output, "reduce_scatter_sum");
    output.copy_(input);
  }
  void all_gather_into(const torch::Tensor& input, torch::Tensor& output) override {
    check_shard_shapes(output, input, "all_gather_into");
    output.copy_(input);
  }
  void barrier() override {}

 private:
  torch::Device device_;
};

}  // namespace deltarl
