// The paged KV cache: blocks are counted, shared and returned exactly; a
// decoding step through the pool (sequences of different lengths, one sharing
// another's prompt blocks) gives each sequence the logits it gets decoding
// alone with a dense cache, within 1e-5: the CPU kernel in float32, the
// gathering path in float64.
#include "core/model/paged_kv_cache.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/model/paged_attention.h"
#include "core/model/causal_lm.h"

namespace deltarl {
namespace {

TEST(PagedKvCache, BlocksAreReservedSharedAndReturned) {
  PagedKvCache cache(/*num_layers=*/2, /*kv_heads=*/2, /*head_dim=*/4, /*block_size=*/4, /*num_blocks=*/6,
                     torch::kFloat32);
  EXPECT_EQ(cache.bytes(), 2 * 2 * 6 * 4 * 2 * 4 * 4);
  EXPECT_EQ(PagedKvCache::block_bytes(2, 2, 4, 4, torch::kFloat32) * 6, cache.bytes());
  PagedKvCache::BlockTable prompt;
  ASSERT_TRUE(cache.reserve(prompt, 6));  // 2 blocks, the second half full
  EXPECT_EQ(prompt.blocks.size(), 2u);
  EXPECT_EQ(cache.free_blocks(), 4);
  // Distinct values in the prompt's six positions, every layer.
  const std::vector<int64_t> prompt_slots = cache.slots(prompt, 0, 6);
  const torch::Tensor slots = torch::tensor(prompt_slots, torch::kInt64);
  for (int64_t layer = 0; layer < 2; ++layer) {
    const torch::Tensor keys = torch::arange(6 * 2 * 4, torch::kFloat32).view({6, 2, 4}) + 100 * layer;
    cache.write(layer, slots, keys, -keys);
  }
  prompt.length = 6;
  PagedKvCache::BlockTable sample;
  ASSERT_TRUE(cache.share(prompt, sample));
  EXPECT_EQ(sample.blocks[0], prompt.blocks[0]);  // the full block is shared
  EXPECT_NE(sample.blocks[1], prompt.blocks[1]);  // the partial one copied
  EXPECT_EQ(cache.free_blocks(), 3);
  const torch::Tensor copied = torch::tensor(cache.slots(sample, 0, 6), torch::kInt64);
  for (int64_t layer = 0; layer < 2; ++layer) {
    EXPECT_TRUE(torch::equal(cache.keys(layer).index_select(0, copied), cache.keys(layer).index_select(0, slots)));
    EXPECT_TRUE(torch::equal(cache.values(layer).index_select(0, copied), cache.values(layer).index_select(0, slots)));
  }
  // Not enough blocks: nothing changes.
  PagedKvCache::BlockTable big;
  EXPECT_FALSE(cache.reserve(big, 4 * 4));
  EXPECT_TRUE(big.blocks.empty());
  EXPECT_EQ(cache.free_blocks(), 3);
  cache.release(prompt);  // the shared block stays with the sample
  EXPECT_EQ(cache.free_blocks(), 4);
  EXPECT_TRUE(prompt.blocks.empty());
  cache.release(sample);
  EXPECT_EQ(cache.free_blocks(), 6);
  // A full table shares everything and copies nothing.
  PagedKvCache::BlockTable whole, whole_copy;
  ASSERT_TRUE(cache.reserve(whole, 8));
  whole.length = 8;
  ASSERT_TRUE(cache.share(whole, whole_copy));
  EXPECT_EQ(whole_copy.blocks, whole.blocks);
  EXPECT_EQ(cache.free_blocks(), 4);
  EXPECT_THROW(cache.slots(whole, 0, 9), c10::Error);
}

// Decodes `fed` tokens after each prompt, every sequence in one batch through
// the pool, and returns each step's logits (b, vocab). Sequence `shared_from`
// (when >= 0) of `prompts` is the same prompt as sequence 0 and takes its
// blocks by share() instead of its own prefill.
std::vector<torch::Tensor> paged_steps(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                       const std::vector<std::vector<int64_t>>& fed, int64_t block_size,
                                       int64_t shared_from) {
  torch::NoGradGuard no_grad;
  const auto device = model->model->embed_tokens->weight.device();
  auto cache = model->make_paged_cache(block_size, /*num_blocks=*/64);
  std::vector<PagedKvCache::BlockTable> tables(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (static_cast<int64_t>(i) == shared_from) {
      EXPECT_TRUE(cache->share(tables[0], tables[i]));
      continue;
    }
    const int64_t length = static_cast<int64_t>(prompts[i].size());
    KvCache dense = model->make_cache(1, length);
    model->forward(torch::tensor(prompts[i]).unsqueeze(0).to(device), {}, {}, &dense);
    EXPECT_TRUE(cache->reserve(tables[i], length));
    const torch::Tensor slots = torch::tensor(cache->slots(tables[i], 0, length), torch::kInt64).to(device);
    for (int64_t layer = 0; layer < cache->num_layers(); ++layer) {
      cache->write(layer, slots, dense.keys(layer)[0].permute({1, 0, 2}), dense.values(layer)[0].permute({1, 0, 2}));
    }
    tables[i].length = length;
  }
  std::vector<torch::Tensor> steps;
  for (size_t step = 0; step < fed[0].size(); ++step) {
    std::vector<int64_t> tokens, positions;
    std::vector<const PagedKvCache::BlockTable*> pointers;
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_TRUE(cache->reserve(tables[i], tables[i].length + 1));
      tokens.push_back(fed[i][step]);
      positions.push_back(tables[i].length);
      pointers.push_back(&tables[i]);
    }
    PagedDecodeBatch batch(*cache, pointers);
    const int64_t b = static_cast<int64_t>(prompts.size());
    steps.push_back(model->decode_paged(torch::tensor(tokens).view({b, 1}).to(device),
                                        torch::tensor(positions).view({b, 1}).to(device), batch));
    for (auto& table : tables) table.length += 1;
  }
  return steps;
}

// Each sequence alone with a dense cache: the logits of each fed token (vocab,).
std::vector<torch::Tensor> dense_steps(CausalLM& model, const std::vector<int64_t>& prompt,
                                       const std::vector<int64_t>& fed) {
  torch::NoGradGuard no_grad;
  const auto device = model->model->embed_tokens->weight.device();
  KvCache dense = model->make_cache(1, static_cast<int64_t>(prompt.size() + fed.size()));
  model->forward(torch::tensor(prompt).unsqueeze(0).to(device), {}, {}, &dense);
  std::vector<torch::Tensor> steps;
  for (const int64_t token : fed) {
    steps.push_back(model->forward(torch::tensor({token}).view({1, 1}).to(device), {}, {}, &dense)[0][0]);
  }
  return steps;
}

void expect_paged_matches_dense(torch::Dtype dtype, double tolerance, torch::Device device = torch::kCPU) {
  torch::manual_seed(4);
  ModelConfig config = ModelConfig::preset("tiny", /*vocab_size=*/512);
  CausalLM model(config);
  model->to(device, dtype);
  model->eval();
  const std::vector<std::vector<int64_t>> prompts = {
      {5, 6, 7}, {9, 8, 7, 6, 5, 4, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, {5, 6, 7}};
  std::vector<std::vector<int64_t>> fed;
  for (int64_t i = 0; i < 4; ++i) {
    fed.push_back({});
    for (int64_t step = 0; step < 11; ++step) fed.back().push_back((37 * i + 11 * step + 3) % 512);
  }
  const std::vector<torch::Tensor> paged = paged_steps(model, prompts, fed, /*block_size=*/4, /*shared_from=*/3);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::vector<torch::Tensor> dense = dense_steps(model, prompts[i], fed[i]);
    for (size_t step = 0; step < dense.size(); ++step) {
      const double difference =
          (paged[step][static_cast<int64_t>(i)] - dense[step]).abs().max().to(torch::kCPU).item<double>();
      EXPECT_LE(difference, tolerance) << "sequence " << i << " step " << step;
    }
  }
}

TEST(PagedDecode, TheCpuKernelGivesEachSequenceItsDenseLogits) { expect_paged_matches_dense(torch::kFloat32, 1e-5); }

// Float64 weights take the packed path (the kernel is float32's); the
// logits themselves come out in float32, hence the same bound.
TEST(PagedDecode, ThePackedPathGivesEachSequenceItsDenseLogits) { expect_paged_matches_dense(torch::kFloat64, 1e-5); }

// On a GPU: float32 takes the packed path row by row; bfloat16, from Ampere
// on, PyTorch's FlashAttention-2 over the packed rows, against the dense
// cache's SDPA in bfloat16 (logits of the tiny model are of order 1, bfloat16
// keeps 8 bits).
TEST(PagedDecodeCuda, ThePackedPathAndFlashAttentionGiveEachSequenceItsDenseLogits) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  expect_paged_matches_dense(torch::kFloat32, 1e-4, torch::kCUDA);
  expect_paged_matches_dense(torch::kBFloat16, 5e-2, torch::kCUDA);
}

}  // namespace
}  // namespace deltarl
