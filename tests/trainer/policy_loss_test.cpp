#include "trainer/algorithm/policy_loss.h"

#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

namespace deltarl {
namespace {

// Hand-computed PPO-clip terms for each branch, with per-sample weights.
TEST(PolicyLoss, ClippedSurrogateBranchesAndWeights) {
  // Sample 0 (A = +1): ratios 1.5 (clipped at 1.28) and 0.5 (unclipped, the min is taken as max of negatives).
  // Sample 1 (A = -1): ratios 0.5 (clipped at 0.8) and 1.5 (unclipped); its last token is padding.
  const torch::Tensor old_log_probs = torch::zeros({2, 3});
  torch::Tensor log_probs = torch::log(torch::tensor({{1.5f, 0.5f, 1.0f}, {0.5f, 1.5f, 9.0f}})).requires_grad_(true);
  const torch::Tensor mask = torch::tensor({{1.0f, 1.0f, 1.0f}, {1.0f, 1.0f, 0.0f}});
  const torch::Tensor advantages = torch::tensor({1.0f, -1.0f});
  const torch::Tensor weights = torch::tensor({0.25, 0.5}, torch::kFloat64);
  PolicyLossOptions options;  // ε_low 0.2, ε_high 0.28
  PolicyLoss loss = policy_loss(log_probs, old_log_probs, {}, {}, mask, advantages, weights, options);
  // Sample 0: -min(1.5, 1.28) - 0.5 - 1.0 = -2.78; sample 1: max(0.5, 0.8) + 1.5 = 2.3.
  EXPECT_NEAR(loss.loss.item<double>(), 0.25 * -2.78 + 0.5 * 2.3, 1e-5);
  EXPECT_EQ(loss.clipped_tokens, 2);
  EXPECT_NEAR(loss.ratio_max, 1.5, 1e-6);  // the padded 9.0 is not counted
  loss.loss.backward();
  // d/dlp of -A·r = -A·r where unclipped, 0 where clipped.
  const torch::Tensor expected = torch::tensor({{0.0f, -0.25f * 0.5f, -0.25f}, {0.0f, 0.5f * 1.5f, 0.0f}});
  EXPECT_TRUE(torch::allclose(log_probs.grad(), expected, 1e-5, 1e-6)) << log_probs.grad();
}

TEST(PolicyLoss, KlK3AndEntropyTerms) {
  const torch::Tensor log_probs = torch::tensor({{std::log(0.5f)}});
  const torch::Tensor reference = torch::tensor({{std::log(0.25f)}});
  const torch::Tensor entropy = torch::tensor({{2.0f}});
  PolicyLossOptions options;
  options.kl_coef = 0.1;
  options.entropy_coef = 0.01;
  PolicyLoss loss = policy_loss(log_probs, log_probs, reference, entropy, torch::ones({1, 1}), torch::zeros({1}),
                                torch::ones({1}, torch::kFloat64), options);
  const double kl = 0.5 - std::log(0.5) - 1.0;  // exp(d) - d - 1, d = ln(0.25/0.5)
  EXPECT_NEAR(loss.kl_sum, kl, 1e-6);
  EXPECT_NEAR(loss.loss.item<double>(), 0.1 * kl - 0.01 * 2.0, 1e-6);
}

TEST(PolicyLoss, EntropyOfUniformAndOneHot) {
  const torch::Tensor logits = torch::tensor({{0.0f, 0.0f, 0.0f, 0.0f}, {100.0f, 0.0f, 0.0f, 0.0f}});
  const torch::Tensor entropy = token_entropy(logits, 1.0);
  EXPECT_NEAR(entropy[0].item<double>(), std::log(4.0), 1e-6);
  EXPECT_NEAR(entropy[1].item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(token_entropy(logits, 1e6)[1].item<double>(), std::log(4.0), 1e-3);  // high T flattens
}

}  // namespace
}  // namespace deltarl
