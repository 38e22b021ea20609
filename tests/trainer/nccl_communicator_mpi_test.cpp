// NcclCommunicator on real GPUs, one rank per GPU, bootstrapped over MPI. Skips
// (with a message) where the LibTorch has no CUDA or there are fewer GPUs than
// ranks, as on CI; run it on a GPU host: `ctest -L gpu`.
#include "trainer/nccl_communicator.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "trainer/mpi_environment.h"

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

}  // namespace
}  // namespace deltarl
