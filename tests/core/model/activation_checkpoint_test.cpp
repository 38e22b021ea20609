// Activation checkpointing per decoder layer (DecoderModelImpl::activation_checkpointing)
// gives the gradients of the plain backward within 1e-6 relative in fp32, on a
// right-padded batch through a model with grouped-query attention, and the
// recompute happened: each layer ran forward twice, not once.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <map>
#include <string>

#include "core/model/activation_checkpoint.h"
#include "core/model/causal_lm.h"

namespace deltarl {
namespace {

ModelConfig small_config(bool tied) {
  ModelConfig config = ModelConfig::preset("tiny");  // 4 layers, 4 heads, 2 KV heads
  config.tie_word_embeddings = tied;
  config.validate("test config");
  return config;
}

struct Backward {
  torch::Tensor logits;
  std::map<std::string, torch::Tensor> gradients;
  int64_t layer_forwards = 0;
};

// One forward/backward of a right-padded batch (rows of 9, 5 and 7 tokens):
// loss = Σ c · log_softmax(logits) over the valid positions, c random.
Backward forward_backward(CausalLM& model, bool checkpointing) {
  model->model->activation_checkpointing = checkpointing;
  model->zero_grad();
  for (const auto& layer : *model->model->layers) layer->as<DecoderLayer>()->forwards = 0;
  torch::manual_seed(5);
  const torch::Tensor ids = torch::randint(0, model->config().vocab_size, {3, 9}, torch::kInt64);
  const torch::Tensor lengths = torch::tensor({9, 5, 7}, torch::kInt64);
  const torch::Tensor mask = (torch::arange(9).unsqueeze(0) < lengths.unsqueeze(1)).to(torch::kInt64);
  const torch::Tensor coefficients = torch::randn({3, 9, model->config().vocab_size});
  Backward out;
  out.logits = model->forward(ids, mask);
  const torch::Tensor loss =
      (coefficients * torch::log_softmax(out.logits, -1) * mask.unsqueeze(-1).to(torch::kFloat32)).sum();
  loss.backward();
  out.logits = out.logits.detach();
  for (const auto& item : model->named_parameters()) out.gradients[item.key()] = item.value().grad().clone();
  for (const auto& layer : *model->model->layers) out.layer_forwards += layer->as<DecoderLayer>()->forwards;
  return out;
}

TEST(ActivationCheckpointing, GivesThePlainGradientsAndRecomputesEveryLayer) {
  for (const bool tied : {true, false}) {
    SCOPED_TRACE(tied ? "tied embeddings" : "untied");
    torch::manual_seed(1);
    CausalLM model(small_config(tied));
    const int64_t layers = model->config().num_hidden_layers;
    const Backward plain = forward_backward(model, false);
    const Backward recomputed = forward_backward(model, true);
    EXPECT_EQ(plain.layer_forwards, layers);
    EXPECT_EQ(recomputed.layer_forwards, 2 * layers);  // the forward, then backward's recompute
    EXPECT_TRUE(torch::equal(recomputed.logits, plain.logits));
    ASSERT_EQ(recomputed.gradients.size(), plain.gradients.size());
    for (const auto& [name, expected] : plain.gradients) {
      const double scale = expected.abs().max().item<double>();
      ASSERT_GT(scale, 0) << name << " got no gradient: the test would prove nothing for it";
      const double error = (recomputed.gradients.at(name) - expected).abs().max().item<double>() / scale;
      EXPECT_LE(error, 1e-6) << name;
    }
  }
}

TEST(ActivationCheckpointing, WithoutGradientsTheBlockRunsOnce) {
  int64_t runs = 0;
  const CheckpointedBlock block = [&runs](const torch::Tensor& x) {
    ++runs;
    return x * 2;
  };
  torch::NoGradGuard no_grad;
  const torch::Tensor y = checkpointed(block, torch::ones({2}, torch::requires_grad()));
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(y.requires_grad());
}

TEST(ActivationCheckpointing, RetainsTheGraphOnlyWhenAskedAndRefusesAnInputChangedInPlace) {
  const torch::Tensor weight = torch::full({3}, 1.5, torch::requires_grad());
  const CheckpointedBlock block = [weight](const torch::Tensor& x) { return (x * weight).sin(); };
  {
    const torch::Tensor x = torch::randn({3}, torch::requires_grad());
    const torch::Tensor y = checkpointed(block, x * 1.0).sum();
    y.backward({}, /*retain_graph=*/true);  // keeps the block: a second backward recomputes again
    const torch::Tensor once = weight.grad().clone();
    y.backward();
    EXPECT_TRUE(torch::allclose(weight.grad(), 2 * once));
    EXPECT_THROW(y.backward(), c10::Error);  // released now
  }
  {
    const torch::Tensor x = torch::randn({3}, torch::requires_grad());
    torch::Tensor input = x * 1.0;
    const torch::Tensor y = checkpointed(block, input).sum();
    {
      torch::NoGradGuard no_grad;
      input.add_(1.0);
    }
    EXPECT_THROW(y.backward(), c10::Error);
  }
}

}  // namespace
}  // namespace deltarl
