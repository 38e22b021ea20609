// chunked_output_layer gives the unchunked output layer's log-probs, entropies
// and gradients (to hidden and to the weight) within 1e-6 relative in fp32,
// with one chunk, several, and a ragged last chunk, at T = 1 and T ≠ 1, with
// either output's gradient alone or both.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/model/chunked_output_layer.h"

namespace deltarl {
namespace {

constexpr int64_t kBatch = 3, kResponse = 7, kHidden = 16, kVocab = 50;  // 21 rows

struct Case {
  torch::Tensor hidden, weight, tokens;
  torch::Tensor log_prob_coefficients, entropy_coefficients;  // the loss's
};

Case make_case(uint64_t seed) {
  torch::manual_seed(seed);
  Case c;
  c.hidden = torch::randn({kBatch, kResponse, kHidden});
  c.weight = torch::randn({kVocab, kHidden}) * 0.5;
  c.tokens = torch::randint(0, kVocab, {kBatch, kResponse}, torch::kInt64);
  c.log_prob_coefficients = torch::randn({kBatch, kResponse});
  c.entropy_coefficients = torch::randn({kBatch, kResponse});
  return c;
}

struct Outcome {
  torch::Tensor log_probs, entropy, grad_hidden, grad_weight;
};

// loss = Σ a·log_prob + Σ b·entropy over the outputs the flags keep.
Outcome run(const Case& c, double temperature, int64_t chunk_tokens, bool log_prob_loss, bool entropy_loss) {
  const torch::Tensor hidden = c.hidden.clone().requires_grad_(true);
  const torch::Tensor weight = c.weight.clone().requires_grad_(true);
  torch::Tensor log_probs, entropy;
  if (chunk_tokens == 0) {  // the unchunked path, by autograd through the full logits
    torch::Tensor scaled = torch::nn::functional::linear(hidden, weight).to(torch::kFloat32);
    if (temperature != 1.0) scaled = scaled / temperature;
    const torch::Tensor lsm = torch::log_softmax(scaled, -1);
    log_probs = lsm.gather(-1, c.tokens.unsqueeze(-1)).squeeze(-1);
    entropy = -(lsm.exp() * lsm).sum(-1);
  } else {
    const ChunkedTokenOutputs out = chunked_output_layer(hidden, weight, c.tokens, temperature, chunk_tokens);
    log_probs = out.log_probs;
    entropy = out.entropy;
  }
  torch::Tensor loss = torch::zeros({});
  if (log_prob_loss) loss = loss + (c.log_prob_coefficients * log_probs).sum();
  if (entropy_loss) loss = loss + (c.entropy_coefficients * entropy).sum();
  loss.backward();
  return {log_probs.detach(), entropy.detach(), hidden.grad(), weight.grad()};
}

double relative_error(const torch::Tensor& actual, const torch::Tensor& expected) {
  return (actual - expected).abs().max().item<double>() / expected.abs().max().item<double>();
}

TEST(ChunkedOutputLayer, EqualsTheUnchunkedLayerForEveryChunkingAndLoss) {
  const Case c = make_case(7);
  for (const double temperature : {1.0, 0.7}) {
    for (const auto& [log_prob_loss, entropy_loss] : {std::pair{true, true}, {true, false}, {false, true}}) {
      const Outcome expected = run(c, temperature, 0, log_prob_loss, entropy_loss);
      // 21 rows: one row per chunk, ragged chunks of 4 (last 1) and 8 (last 5), exactly one, more than all.
      for (const int64_t chunk_tokens : {1, 4, 8, 21, 100}) {
        SCOPED_TRACE("T " + std::to_string(temperature) + ", chunk " + std::to_string(chunk_tokens) +
                     ", log-prob loss " + std::to_string(log_prob_loss) + ", entropy loss " +
                     std::to_string(entropy_loss));
        const Outcome actual = run(c, temperature, chunk_tokens, log_prob_loss, entropy_loss);
        EXPECT_LE(relative_error(actual.log_probs, expected.log_probs), 1e-6);
        EXPECT_LE(relative_error(actual.entropy, expected.entropy), 1e-6);
        EXPECT_LE(relative_error(actual.grad_hidden, expected.grad_hidden), 1e-6);
        EXPECT_LE(relative_error(actual.grad_weight, expected.grad_weight), 1e-6);
      }
    }
  }
}

TEST(ChunkedOutputLayer, WithoutGradientsComputesTheSameValues) {
  const Case c = make_case(11);
  const Outcome expected = run(c, 0.9, 0, true, true);
  torch::NoGradGuard no_grad;
  const ChunkedTokenOutputs out = chunked_output_layer(c.hidden, c.weight, c.tokens, 0.9, 5);
  EXPECT_FALSE(out.log_probs.requires_grad());
  EXPECT_LE(relative_error(out.log_probs, expected.log_probs), 1e-6);
  EXPECT_LE(relative_error(out.entropy, expected.entropy), 1e-6);
}

TEST(ChunkedOutputLayer, Bfloat16WeightsGiveFloat32OutputsNearTheUnchunkedOnes) {
  Case c = make_case(13);
  c.hidden = c.hidden.to(torch::kBFloat16);
  c.weight = c.weight.to(torch::kBFloat16);
  const Outcome expected = run(c, 1.0, 0, true, true);
  const Outcome actual = run(c, 1.0, 4, true, true);
  EXPECT_EQ(actual.log_probs.scalar_type(), torch::kFloat32);
  EXPECT_EQ(actual.grad_weight.scalar_type(), torch::kBFloat16);
  EXPECT_LE(relative_error(actual.log_probs, expected.log_probs), 1e-6);  // same bf16 products, fp32 after
  // The weight's gradient sums chunks in fp32 where autograd sums one bf16 product: bf16's rounding apart.
  EXPECT_LE(relative_error(actual.grad_weight.to(torch::kFloat32), expected.grad_weight.to(torch::kFloat32)), 2e-2);
  EXPECT_LE(relative_error(actual.grad_hidden.to(torch::kFloat32), expected.grad_hidden.to(torch::kFloat32)), 2e-2);
}

// Given a gradient buffer, backward adds the weight's gradient into it (on top
// of what it holds) and autograd gives the weight none; fp32 and bf16 weights.
TEST(ChunkedOutputLayer, AddsTheWeightGradientIntoAGivenBuffer) {
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
    Case c = make_case(17);
    c.hidden = c.hidden.to(dtype);
    c.weight = c.weight.to(dtype);
    const Outcome returned = run(c, 0.8, 4, true, true);
    const torch::Tensor held = torch::randn({kVocab, kHidden});  // an earlier micro-batch's gradient
    torch::Tensor buffer = held.clone();
    const torch::Tensor hidden = c.hidden.clone().requires_grad_(true);
    const torch::Tensor weight = c.weight.clone().requires_grad_(true);
    const ChunkedTokenOutputs out = chunked_output_layer(hidden, weight, c.tokens, 0.8, 4, buffer);
    ((c.log_prob_coefficients * out.log_probs).sum() + (c.entropy_coefficients * out.entropy).sum()).backward();
    EXPECT_FALSE(weight.grad().defined()) << dtype;
    const double tolerance = dtype == torch::kFloat32 ? 1e-6 : 1e-2;
    EXPECT_LE(relative_error(buffer - held, returned.grad_weight.to(torch::kFloat32)), tolerance) << dtype;
    EXPECT_LE(relative_error(hidden.grad().to(torch::kFloat32), returned.grad_hidden.to(torch::kFloat32)), 1e-6)
        << dtype;
  }
  const Case c = make_case(3);
  torch::Tensor wrong = torch::zeros({kVocab, kHidden}, torch::kFloat64);
  EXPECT_THROW(chunked_output_layer(c.hidden, c.weight, c.tokens, 1.0, 4, wrong), c10::Error);
}

TEST(ChunkedOutputLayer, RefusesMismatchedShapesAndBadSettings) {
  const Case c = make_case(3);
  EXPECT_THROW(chunked_output_layer(c.hidden, c.weight, c.tokens, 1.0, 0), c10::Error);
  EXPECT_THROW(chunked_output_layer(c.hidden, c.weight, c.tokens, 0.0, 4), c10::Error);
  EXPECT_THROW(chunked_output_layer(c.hidden, c.weight.narrow(1, 0, 8), c.tokens, 1.0, 4), c10::Error);
  EXPECT_THROW(chunked_output_layer(c.hidden, c.weight, c.tokens.narrow(1, 0, 3), 1.0, 4), c10::Error);
}

}  // namespace
}  // namespace deltarl
