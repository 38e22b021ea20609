// The fixed-shape decoding step a CUDA graph captures: with a padding row and
// a padded context, over several steps through one StaticDecodeStep (its
// inputs refilled each time), every real row gets the logits decode_paged
// gives it, within 1e-5, and the padding row's writes into the scratch slot
// disturb no sequence.
#include "core/model/static_decode_step.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace deltarl {
namespace {

// Prefills `prompt` densely and writes it into a new table of `cache`.
PagedKvCache::BlockTable prefilled(CausalLM& model, PagedKvCache& cache, const std::vector<int64_t>& prompt) {
  const int64_t length = static_cast<int64_t>(prompt.size());
  KvCache dense = model->make_cache(1, length);
  model->forward(torch::tensor(prompt).unsqueeze(0), {}, {}, &dense);
  PagedKvCache::BlockTable table;
  EXPECT_TRUE(cache.reserve(table, length));
  const torch::Tensor slots = torch::tensor(cache.slots(table, 0, length), torch::kInt64);
  for (int64_t layer = 0; layer < cache.num_layers(); ++layer) {
    cache.write(layer, slots, dense.keys(layer)[0].permute({1, 0, 2}), dense.values(layer)[0].permute({1, 0, 2}));
  }
  table.length = length;
  return table;
}

TEST(StaticDecodeStep, RealRowsGetTheirDecodePagedLogitsAcrossStepsBesidePadding) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(8);
  CausalLM model(ModelConfig::preset("tiny", /*vocab_size=*/512));
  model->eval();
  // Two pools filled alike: decode_paged on one, the static step on the other.
  auto reference_cache = model->make_paged_cache(/*block_size=*/4, /*num_blocks=*/32);
  auto static_cache = model->make_paged_cache(/*block_size=*/4, /*num_blocks=*/32);
  PagedKvCache::BlockTable scratch;
  ASSERT_TRUE(static_cache->reserve(scratch, 1));  // the padding rows' scratch block, in no table
  const std::vector<std::vector<int64_t>> prompts = {{5, 6, 7}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {40, 41}};
  std::vector<PagedKvCache::BlockTable> reference, fixed;
  for (const auto& prompt : prompts) {
    reference.push_back(prefilled(model, *reference_cache, prompt));
    fixed.push_back(prefilled(model, *static_cache, prompt));
  }
  StaticDecodeStep step(model, *static_cache, /*batch=*/4, /*context=*/32,
                        /*scratch_slot=*/scratch.blocks.front() * static_cache->block_size());
  for (int64_t s = 0; s < 6; ++s) {
    std::vector<int64_t> tokens, positions;
    std::vector<const PagedKvCache::BlockTable*> reference_tables, fixed_tables;
    for (size_t i = 0; i < prompts.size(); ++i) {
      ASSERT_TRUE(reference_cache->reserve(reference[i], reference[i].length + 1));
      ASSERT_TRUE(static_cache->reserve(fixed[i], fixed[i].length + 1));
      tokens.push_back((31 * static_cast<int64_t>(i) + 7 * s + 2) % 512);
      positions.push_back(reference[i].length);
      reference_tables.push_back(&reference[i]);
      fixed_tables.push_back(&fixed[i]);
    }
    PagedDecodeBatch batch(*reference_cache, reference_tables);
    const int64_t b = static_cast<int64_t>(prompts.size());
    const torch::Tensor expected =
        model->decode_paged(torch::tensor(tokens).view({b, 1}), torch::tensor(positions).view({b, 1}), batch);
    step.set(tokens, fixed_tables);
    const torch::Tensor logits = step.forward();
    ASSERT_EQ(logits.size(0), 4);
    EXPECT_LE((logits.narrow(0, 0, b) - expected).abs().max().item<double>(), 1e-5) << "step " << s;
    for (size_t i = 0; i < prompts.size(); ++i) {
      reference[i].length += 1;
      fixed[i].length += 1;
    }
  }
  // One table only: three padding rows.
  ASSERT_TRUE(static_cache->reserve(fixed[1], fixed[1].length + 1));
  ASSERT_TRUE(reference_cache->reserve(reference[1], reference[1].length + 1));
  step.set({9}, {&fixed[1]});
  PagedDecodeBatch alone(*reference_cache, {&reference[1]});
  const torch::Tensor expected = model->decode_paged(torch::tensor({int64_t{9}}).view({1, 1}),
                                                     torch::tensor({reference[1].length}).view({1, 1}), alone);
  EXPECT_LE((step.forward().narrow(0, 0, 1) - expected).abs().max().item<double>(), 1e-5);
  // Beyond the step's shapes: errors, not silent truncation.
  PagedKvCache::BlockTable long_table;
  ASSERT_TRUE(static_cache->reserve(long_table, 40));
  long_table.length = 39;
  EXPECT_THROW(step.set({1}, {&long_table}), c10::Error);
  EXPECT_THROW(step.set({1, 1, 1, 1, 1}, {&fixed[0], &fixed[0], &fixed[0], &fixed[0], &fixed[0]}), c10::Error);
}

}  // namespace
}  // namespace deltarl
