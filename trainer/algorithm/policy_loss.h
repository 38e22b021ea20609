// The PPO clipped surrogate with separate ε_low and ε_high (DAPO's clip-higher),
// an optional k3 KL penalty to a frozen reference and an entropy bonus, summed
// over each sample's valid tokens and weighted by its loss-aggregation weight w_i:
//
//   ℓ_{i,t} = max(-A_i r_{i,t}, -A_i clip(r_{i,t}, 1-ε_low, 1+ε_high))
//             + β (exp(ref - lp) - (ref - lp) - 1) - c_H H_{i,t}
//   J       = Σ_i w_i Σ_{t<L_i} ℓ_{i,t}             r = exp(lp - lp_old)
//
// (docs/loss-aggregation.md). J is not normalized further: the weights are global,
// so summing micro-batches and ranks gives the step's loss exactly.
#pragma once

#include <torch/types.h>

namespace deltarl {

struct PolicyLossOptions {
  double clip_ratio_low = 0.2;
  double clip_ratio_high = 0.28;
  double kl_coef = 0.0;
  double entropy_coef = 0.0;
};

struct PolicyLoss {
  torch::Tensor loss;           // scalar fp32, differentiable
  double clipped_tokens = 0;    // tokens where the clipped branch was taken
  double kl_sum = 0;            // Σ over valid tokens of the k3 estimate (0 without a reference)
  double ratio_max = 0;         // max r over valid tokens
};

// All (b, t) fp32 on one device: `log_probs` (with grad), `old_log_probs`,
// `mask` (1 on valid response tokens); `ref_log_probs` and `entropy` may be
// undefined (then the KL / entropy terms are 0). `advantages` and `weights` (b,).
PolicyLoss policy_loss(const torch::Tensor& log_probs, const torch::Tensor& old_log_probs,
                       const torch::Tensor& ref_log_probs, const torch::Tensor& entropy, const torch::Tensor& mask,
                       const torch::Tensor& advantages, const torch::Tensor& weights,
                       const PolicyLossOptions& options);

// Per-token entropy of softmax(logits / T), (…, vocab) → (…) fp32.
torch::Tensor token_entropy(const torch::Tensor& logits, double temperature);

}  // namespace deltarl
