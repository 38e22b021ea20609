// MpiCommunicator under real `mpirun -np 2/4` processes: every collective, every
// supported dtype, bucketed list all-reduce with mixed dtypes, views and buckets
// smaller than one tensor.
#include "trainer/comm/mpi_communicator.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <torch/torch.h>

namespace deltarl {
namespace {

class MpiCommunicatorTest : public ::testing::Test {
 protected:
  MpiCommunicator communicator_;
  int rank() const { return communicator_.rank(); }
  int world() const { return communicator_.world_size(); }
  // Σ_{r<world} (r + 1) = world (world + 1) / 2
  double rank_sum() const { return world() * (world() + 1) / 2.0; }
};

TEST_F(MpiCommunicatorTest, AllReduceSumsEveryDtype) {
  ASSERT_GE(world(), 2) << "run under mpirun -np 2 or more";
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt32, torch::kInt64, torch::kBFloat16,
                     torch::kFloat16}) {
    torch::Tensor t = torch::arange(7, torch::kFloat64).mul(rank() + 1).to(dtype);
    communicator_.all_reduce_sum(t);
    const torch::Tensor expected = torch::arange(7, torch::kFloat64).mul(rank_sum());
    EXPECT_TRUE(torch::equal(t.to(torch::kFloat64), expected)) << dtype << ": " << t;
  }
}

TEST_F(MpiCommunicatorTest, BucketedListAllReduceWithMixedDtypesAndViews) {
  torch::Tensor base = torch::arange(24, torch::kFloat32).reshape({4, 6}).mul(rank() + 1);
  std::vector<torch::Tensor> tensors = {
      torch::full({3}, double(rank() + 1), torch::kFloat64),
      base.t(),                                                // not contiguous
      torch::full({1000}, float(rank() + 1), torch::kFloat32),
      torch::full({2, 2}, int64_t(rank() + 1), torch::kInt64),
      torch::empty({0}, torch::kFloat32),                      // empty: skipped
      torch::full({5}, float(rank() + 1), torch::kFloat32),
  };
  // 64-byte buckets: some tensors share a bucket, the 4000-byte one goes alone.
  communicator_.all_reduce_sum(tensors, /*bucket_bytes=*/64);
  EXPECT_TRUE(torch::equal(tensors[0], torch::full({3}, rank_sum(), torch::kFloat64)));
  EXPECT_TRUE(torch::equal(base, torch::arange(24, torch::kFloat32).reshape({4, 6}).mul(rank_sum())));
  EXPECT_TRUE(torch::equal(tensors[2], torch::full({1000}, float(rank_sum()))));
  EXPECT_TRUE(torch::equal(tensors[3], torch::full({2, 2}, int64_t(rank_sum()), torch::kInt64)));
  EXPECT_TRUE(torch::equal(tensors[5], torch::full({5}, float(rank_sum()))));
}

// Rank r sends input[i] = (r + 1)·i; its shard of the sum is Σ (q + 1)·i over
// its range of i. bf16 goes through fp32 (exact here: small integers).
TEST_F(MpiCommunicatorTest, ReduceScatterSumsEachRanksShard) {
  constexpr int64_t kShard = 5;
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kBFloat16}) {
    const torch::Tensor input = torch::arange(kShard * world(), torch::kFloat64).mul(rank() + 1).to(dtype);
    torch::Tensor output = torch::full({kShard}, -1.0, torch::kFloat64).to(dtype);
    communicator_.reduce_scatter_sum(input, output);
    const torch::Tensor expected = torch::arange(kShard * rank(), kShard * (rank() + 1), torch::kFloat64).mul(rank_sum());
    EXPECT_TRUE(torch::equal(output.to(torch::kFloat64), expected)) << dtype << ": " << output;
  }
  torch::Tensor wrong = torch::zeros({kShard + 1});
  EXPECT_THROW(communicator_.reduce_scatter_sum(torch::zeros({kShard * world()}), wrong), c10::Error);
}

// fp32 sums are taken in rank order, ((x₀ + x₁) + x₂) + …, by both
// all_reduce_sum and reduce_scatter_sum, so ZeRO stage 2 reduces to the same
// bits as stage 0. Values spread over 24 orders of magnitude make the order
// visible (at 4 ranks MPI_SUM's recursive doubling gives other bits); the
// length spans several of the communicator's 1 Mi-element blocks, ragged, and
// does not divide by the world size.
TEST_F(MpiCommunicatorTest, FloatSumsAreInRankOrderForAllReduceAndReduceScatter) {
  const int64_t numel = 5 * (int64_t{1} << 20) + 5;
  auto input_of = [&](int r) {
    torch::manual_seed(100 + r);
    return torch::randn({numel}).mul_(torch::randn({numel}).mul_(6).exp_());  // (numel,) fp32
  };
  torch::Tensor expected = input_of(0);
  for (int r = 1; r < world(); ++r) expected.add_(input_of(r));
  const torch::Tensor mine = input_of(rank());

  torch::Tensor reduced = mine.clone();
  communicator_.all_reduce_sum(reduced);
  EXPECT_TRUE(torch::equal(reduced, expected)) << "all_reduce_sum is not the rank-order sum";

  const int64_t shard = (numel + world() - 1) / world();
  torch::Tensor padded = torch::zeros({shard * world()});
  padded.narrow(/*dim=*/0, 0, numel).copy_(mine);
  torch::Tensor output = torch::empty({shard});
  communicator_.reduce_scatter_sum(padded, output);
  const int64_t begin = shard * rank(), valid = std::min(shard, numel - begin);
  EXPECT_TRUE(torch::equal(output.narrow(/*dim=*/0, 0, valid), expected.narrow(/*dim=*/0, begin, valid)))
      << "reduce_scatter_sum is not the rank-order sum";

  torch::Tensor scalar = torch::tensor({rank() == 1 ? 1e20 : (rank() == 2 ? -1e20 : 1.0)}, torch::kFloat64);
  communicator_.all_reduce_sum(scalar);
  const double in_order = world() == 2 ? 1.0 + 1e20 : ((1.0 + 1e20) + -1e20) + (world() - 3);
  EXPECT_EQ(scalar.item<double>(), in_order);
}

TEST_F(MpiCommunicatorTest, AllGatherIntoPlacesEachRanksShard) {
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kInt64}) {
    const torch::Tensor mine = torch::full({3}, rank() + 1, torch::kFloat64).to(dtype);
    torch::Tensor whole = torch::zeros({3 * world()}, torch::kFloat64).to(dtype);
    communicator_.all_gather_into(mine, whole);
    const torch::Tensor expected = torch::arange(1, world() + 1, torch::kFloat64).repeat_interleave(3);
    EXPECT_TRUE(torch::equal(whole.to(torch::kFloat64), expected)) << dtype << ": " << whole;
  }
}

TEST_F(MpiCommunicatorTest, BroadcastFromEveryRoot) {
  for (int root = 0; root < world(); ++root) {
    torch::Tensor t = torch::full({4}, float(rank() * 10 + 1));
    communicator_.broadcast(t, root);
    EXPECT_TRUE(torch::equal(t, torch::full({4}, float(root * 10 + 1)))) << "root " << root;
  }
  torch::Tensor t = torch::zeros({1});
  EXPECT_THROW(communicator_.broadcast(t, world()), c10::Error);
}

TEST_F(MpiCommunicatorTest, AllGatherStacksRanksInOrder) {
  torch::Tensor mine = torch::full({2, 3}, int64_t(rank()), torch::kInt64);
  torch::Tensor all = communicator_.all_gather(mine);
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{world(), 2, 3}));
  for (int r = 0; r < world(); ++r) {
    EXPECT_TRUE(torch::equal(all[r], torch::full({2, 3}, int64_t(r), torch::kInt64)));
  }
}

TEST_F(MpiCommunicatorTest, RejectsNonCpuOrNonContiguousTensorsWithAClearMessage) {
  torch::Tensor view = torch::zeros({4, 4}).t();
  try {
    communicator_.all_reduce_sum(view);
    FAIL();
  } catch (const c10::Error& error) {
    EXPECT_NE(std::string(error.what()).find("contiguous"), std::string::npos);
  }
  communicator_.barrier();
}

TEST_F(MpiCommunicatorTest, MoveKeepsTheCommunicatorUsable) {
  MpiCommunicator moved(std::move(communicator_));
  torch::Tensor t = torch::ones({2});
  moved.all_reduce_sum(t);
  EXPECT_TRUE(torch::equal(t, torch::full({2}, float(world()))));
  communicator_ = std::move(moved);
}

}  // namespace
}  // namespace deltarl
