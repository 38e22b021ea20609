#include "core/model/kv_cache.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace deltarl {
namespace {

using torch::indexing::Slice;

// update() writes at [length, length + new) of every row and returns views of
// all cached positions; the length moves only with advance().
TEST(KvCache, UpdateWritesAtTheLengthAndAdvanceMovesIt) {
  torch::manual_seed(3);
  const int64_t batch = 2, kv_heads = 2, head_dim = 4, capacity = 10;
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    KvCache cache(/*num_layers=*/2, batch, kv_heads, capacity, head_dim, torch::TensorOptions().dtype(dtype));
    // (batch, new, kv, d) transposed to (batch, kv, new, d): not contiguous, as the model's split gives.
    const torch::Tensor first_keys = torch::randn({batch, 3, kv_heads, head_dim}).to(dtype).transpose(1, 2);
    const torch::Tensor first_values = torch::randn({batch, 3, kv_heads, head_dim}).to(dtype).transpose(1, 2);
    auto [keys, values] = cache.update(1, first_keys, first_values);
    EXPECT_EQ(keys.sizes(), (std::vector<int64_t>{batch, kv_heads, 3, head_dim}));
    EXPECT_TRUE(torch::equal(keys, first_keys));
    EXPECT_TRUE(torch::equal(values, first_values));
    EXPECT_EQ(cache.length(), 0);
    cache.advance(3);

    const torch::Tensor next_keys = torch::randn({batch, kv_heads, 1, head_dim}).to(dtype);
    const torch::Tensor next_values = torch::randn({batch, kv_heads, 1, head_dim}).to(dtype);
    std::tie(keys, values) = cache.update(1, next_keys, next_values);
    EXPECT_EQ(keys.size(2), 4);
    EXPECT_TRUE(torch::equal(keys.narrow(2, 0, 3), first_keys));
    EXPECT_TRUE(torch::equal(keys.narrow(2, 3, 1), next_keys));
    EXPECT_TRUE(torch::equal(values.narrow(2, 3, 1), next_values));
    // Nothing past the written positions, nor in the other layer, changed.
    EXPECT_TRUE(torch::equal(cache.keys(1).index({Slice(), Slice(), Slice(4)}),
                             torch::zeros({batch, kv_heads, capacity - 4, head_dim}, dtype)));
    EXPECT_TRUE(torch::equal(cache.keys(0), torch::zeros({batch, kv_heads, capacity, head_dim}, dtype)));
  }
}

TEST(KvCache, WritesPastCapacityOrOfAnotherBatchAreErrors) {
  KvCache cache(1, 2, 1, 4, 2, torch::TensorOptions());
  EXPECT_THROW(cache.update(0, torch::zeros({2, 1, 5, 2}), torch::zeros({2, 1, 5, 2})), c10::Error);
  EXPECT_THROW(cache.update(0, torch::zeros({3, 1, 1, 2}), torch::zeros({3, 1, 1, 2})), c10::Error);
  cache.advance(4);
  EXPECT_THROW(cache.update(0, torch::zeros({2, 1, 1, 2}), torch::zeros({2, 1, 1, 2})), c10::Error);
  EXPECT_THROW(cache.advance(1), c10::Error);
  cache.reset();
  EXPECT_EQ(cache.length(), 0);
  EXPECT_NO_THROW(cache.update(0, torch::zeros({2, 1, 1, 2}), torch::zeros({2, 1, 1, 2})));
}

TEST(KvCache, UpdateWithGradientsKeepsTheHistory) {
  KvCache cache(1, 1, 1, 3, 2, torch::TensorOptions());
  const torch::Tensor fresh = torch::ones({1, 1, 1, 2}, torch::requires_grad());
  auto [keys, values] = cache.update(0, fresh * 2, fresh * 3);
  (keys.sum() + values.sum()).backward();
  EXPECT_TRUE(torch::equal(fresh.grad(), torch::full({1, 1, 1, 2}, 5.0f)));
}

}  // namespace
}  // namespace deltarl
