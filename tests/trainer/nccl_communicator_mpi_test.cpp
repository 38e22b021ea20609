// NcclCommunicator on real GPUs, one rank per GPU, bootstrapped over MPI. Skips
// (with a message) where the LibTorch has no CUDA or there are fewer GPUs than
// ranks, as on CI; run it on a GPU host: `ctest -L gpu`.
#include "trainer/comm/nccl_communicator.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "trainer/algorithm/loss_aggregation.h"
#include "trainer/comm/single_process_communicator.h"

namespace deltarl {
namespace {

class NcclCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available() ||
        static_cast<int>(torch::cuda::device_count()) < bootstrap_.world_size()) {
      GTEST_SKIP() << "needs a CUDA LibTorch and one GPU per rank";
    }
    nccl_ = std::make_unique<NcclCommunicator>(bootstrap_, bootstrap_.rank());
  }
  MpiCommunicator bootstrap_;
  std::unique_ptr<NcclCommunicator> nccl_;
};

TEST_F(NcclCommunicatorTest, CollectivesOnCudaTensors) {
  const int world = nccl_->world_size(), rank = nccl_->rank();
  const double rank_sum = world * (world + 1) / 2.0;
  const auto cuda = torch::TensorOptions().device(nccl_->device());
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kBFloat16, torch::kInt64}) {
    torch::Tensor t = torch::arange(1000, cuda.dtype(torch::kFloat64)).remainder(7).mul(rank + 1).to(dtype);
    nccl_->all_reduce_sum(t);
    torch::Tensor expected = torch::arange(1000, torch::kFloat64).remainder(7).mul(rank_sum);
    EXPECT_TRUE(torch::equal(t.cpu().to(torch::kFloat64), expected)) << dtype;
  }
  // The list all-reduce of gradients, bucketed, with a non-contiguous view.
  torch::Tensor matrix = torch::ones({64, 32}, cuda).mul(rank + 1);
  std::vector<torch::Tensor> grads = {matrix.t(), torch::full({5}, rank + 1.0, cuda), torch::ones({3000}, cuda)};
  nccl_->all_reduce_sum(grads, /*bucket_bytes=*/4096);
  EXPECT_TRUE(torch::allclose(matrix.cpu(), torch::full({64, 32}, rank_sum)));
  EXPECT_TRUE(torch::allclose(grads[2].cpu(), torch::full({3000}, double(world))));

  torch::Tensor b = torch::full({8}, rank * 3.0 + 1, cuda);
  nccl_->broadcast(b, /*root=*/world - 1);
  EXPECT_TRUE(torch::equal(b.cpu(), torch::full({8}, (world - 1) * 3.0 + 1)));

  torch::Tensor gathered = nccl_->all_gather(torch::full({2, 2}, double(rank), cuda.dtype(torch::kFloat64)));
  ASSERT_EQ(gathered.size(0), world);
  for (int r = 0; r < world; ++r) EXPECT_TRUE(torch::equal(gathered[r].cpu(), torch::full({2, 2}, double(r), torch::kFloat64)));
  nccl_->barrier();

  torch::Tensor cpu = torch::zeros({4});
  EXPECT_THROW(nccl_->all_reduce_sum(cpu), c10::Error);
}

// The step statistics travel through NCCL as a CUDA float64 tensor: the
// weights must be exactly those of the CPU path.
TEST_F(NcclCommunicatorTest, StepStatisticsThroughNcclGiveTheSameWeights) {
  AggregationConfig config;
  config.max_response_length = 512;
  const int world = nccl_->world_size(), rank = nccl_->rank();
  StepStatistics on_gpu(4, config.alpha), reference(4, config.alpha);
  for (int64_t i = 0; i < 64; ++i) {
    const int64_t group = i % 4, length = 1 + (i * 37) % 500;
    const double reward = (i % 3 == 0) ? 1.0 : 0.0;
    if (i % world == rank) on_gpu.add_sample(group, length, reward);
    reference.add_sample(group, length, reward);
  }
  on_gpu.all_reduce(*nccl_);
  SingleProcessCommunicator single;
  reference.all_reduce(single);
  for (int64_t g = 0; g < 4; ++g) {
    EXPECT_EQ(on_gpu.group_count(g), reference.group_count(g));
    EXPECT_NEAR(on_gpu.group_length_power_sum(g), reference.group_length_power_sum(g),
                1e-15 * reference.group_length_power_sum(g));
    for (int64_t length : {1, 17, 500}) {
      EXPECT_NEAR(sample_weight(config, on_gpu, g, length), sample_weight(config, reference, g, length),
                  1e-14 * sample_weight(config, reference, g, length));
    }
  }
}

}  // namespace
}  // namespace deltarl
