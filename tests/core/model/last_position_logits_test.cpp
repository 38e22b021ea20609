// last_position_logits gives forward()'s logits at the last position, in
// every inference form and with gradients on, and fills the KV cache exactly
// as forward() does; rows are left-padded as generate() pads them.
#include "core/model/last_position_logits.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

namespace deltarl {
namespace {

TEST(LastPositionLogits, AreForwardsLastPositionAndFillTheSameCache) {
  torch::manual_seed(3);
  CausalLM model(ModelConfig::preset("tiny"));
  const int64_t batch = 3, length = 9, vocab = model->config().vocab_size;
  const torch::Tensor ids = torch::randint(0, vocab, {batch, length}, torch::kInt64);
  torch::Tensor mask = torch::ones({batch, length}, torch::kInt64);
  mask[1].narrow(0, 0, 4).zero_();  // left padding
  mask[2].narrow(0, 0, 8).zero_();  // a one-token prompt
  const torch::Tensor positions = (mask.cumsum(1) - 1).clamp_min(0);
  for (LinearForm form : {LinearForm::kTraining, LinearForm::kFused, LinearForm::kPacked}) {
    model->prepare_inference(form);
    torch::NoGradGuard no_grad;
    KvCache expected_cache = model->make_cache(batch, length + 2);
    KvCache actual_cache = model->make_cache(batch, length + 2);
    const torch::Tensor expected = model->forward(ids, mask, positions, &expected_cache).select(1, length - 1);
    const torch::Tensor actual = last_position_logits(model, ids, mask, positions, &actual_cache);
    ASSERT_EQ(actual.sizes(), (std::vector<int64_t>{batch, vocab}));
    EXPECT_EQ(actual.scalar_type(), torch::kFloat32);
    const double error = (actual - expected).abs().max().item<double>() / expected.abs().max().item<double>();
    EXPECT_LE(error, 1e-5) << static_cast<int>(form);
    for (int64_t layer = 0; layer < expected_cache.num_layers(); ++layer) {
      EXPECT_TRUE(torch::equal(actual_cache.keys(layer), expected_cache.keys(layer))) << layer;
      EXPECT_TRUE(torch::equal(actual_cache.values(layer), expected_cache.values(layer))) << layer;
    }
  }
  // With gradients on (no cache), and differentiable.
  model->prepare_inference(LinearForm::kTraining);
  const torch::Tensor with_grad = last_position_logits(model, ids, mask, positions);
  EXPECT_TRUE(with_grad.requires_grad());
  const torch::Tensor full = model->forward(ids, mask, positions).select(1, length - 1);
  EXPECT_LE((with_grad - full).abs().max().item<double>() / full.abs().max().item<double>(), 1e-5);
}

}  // namespace
}  // namespace deltarl
