#include "core/model/kv_cache.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace deltarl {
namespace {

// Per-row mode writes each row's new key and value at that row's own length,
// whatever the layout of the fresh keys (here a transposed view, as the
// model's q/k/v split gives), and returns views up to the longest row.
TEST(KvCache, PerRowStepWritesEachRowAtItsOwnLength) {
  torch::manual_seed(3);
  const int64_t rows = 3, kv_heads = 2, head_dim = 4, capacity = 10;
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    KvCache cache(/*num_layers=*/2, /*batch=*/4, kv_heads, capacity, head_dim, torch::TensorOptions().dtype(dtype));
    const torch::Tensor keys_before = cache.keys(1).clone();
    cache.use_row_lengths({5, 2, 7});
    // (rows, 1, kv, d) transposed to (rows, kv, 1, d): not contiguous.
    const torch::Tensor fresh_keys = torch::randn({rows, 1, kv_heads, head_dim}).to(dtype).transpose(1, 2);
    const torch::Tensor fresh_values = torch::randn({rows, 1, kv_heads, head_dim}).to(dtype).transpose(1, 2);
    auto [keys, values] = cache.update(1, fresh_keys, fresh_values);
    EXPECT_EQ(keys.sizes(), (std::vector<int64_t>{rows, kv_heads, 8, head_dim}));
    const std::vector<int64_t> lengths = {5, 2, 7};
    torch::Tensor expected = keys_before.clone();
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_TRUE(torch::equal(keys[r].select(1, lengths[r]), fresh_keys[r].select(1, 0)));
      EXPECT_TRUE(torch::equal(values[r].select(1, lengths[r]), fresh_values[r].select(1, 0)));
      expected[r].select(1, lengths[r]).copy_(fresh_keys[r].select(1, 0));
    }
    // Nothing else in the layer changed (other rows, columns, the unused fourth row).
    EXPECT_TRUE(torch::equal(cache.keys(1), expected));
    cache.advance(1);
    EXPECT_EQ(cache.row_lengths(), (std::vector<int64_t>{6, 3, 8}));
  }
}

TEST(KvCache, PerRowStepPastCapacityOrOfTheWrongShapeIsAnError) {
  KvCache cache(1, 2, 1, 4, 2, torch::TensorOptions());
  cache.use_row_lengths({4, 1});
  const torch::Tensor fresh = torch::zeros({2, 1, 1, 2});
  EXPECT_THROW(cache.update(0, fresh, fresh), c10::Error);
  cache.use_row_lengths({3, 1});
  const torch::Tensor two_heads = torch::zeros({2, 2, 1, 2}), wide = torch::zeros({2, 1, 1, 3});
  EXPECT_THROW(cache.update(0, two_heads, two_heads), c10::Error);
  EXPECT_THROW(cache.update(0, wide, wide), c10::Error);
  EXPECT_THROW(cache.use_row_lengths({-1, 0}), c10::Error);
  EXPECT_THROW(cache.use_row_lengths({5, 0}), c10::Error);
}

TEST(KvCache, PerRowStepWithGradientsKeepsTheHistory) {
  // With gradients the step goes through indexed assignment, which autograd records.
  KvCache cache(1, 1, 1, 3, 2, torch::TensorOptions());
  cache.use_row_lengths({1});
  const torch::Tensor fresh = torch::ones({1, 1, 1, 2}, torch::requires_grad());
  auto [keys, values] = cache.update(0, fresh * 2, fresh * 3);
  (keys.sum() + values.sum()).backward();
  EXPECT_TRUE(torch::equal(fresh.grad(), torch::full({1, 1, 1, 2}, 5.0f)));
}

}  // namespace
}  // namespace deltarl
