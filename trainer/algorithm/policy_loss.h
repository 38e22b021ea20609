// The PPO clipped surrogate with separate ε_low and ε_high (DAPO's clip-higher)
// and the dual clip for negative advantages, an optional k3 KL penalty to a
// frozen reference and an entropy bonus, summed over each sample's valid tokens
// and weighted by its loss-aggregation weight w_i:
//
//   p_{i,t} = max(-A_i r_{i,t}, -A_i clip(r_{i,t}, 1-ε_low, 1+ε_high))
//   p_{i,t} = min(p_{i,t}, -A_i c)                  dual clip, only where A_i < 0
//   ℓ_{i,t} = ρ_{i,t} p_{i,t} + β (exp(ref - lp) - (ref - lp) - 1) - c_H H_{i,t}
//   J       = Σ_i w_i Σ_{t<L_i} ℓ_{i,t}             r = exp(lp - lp_old)
//
// ρ is the rollout correction's token weight (trainer/algorithm/rollout_correction.h),
// 1 without one. The dual clip (Ye et al. 2020, verl's clip_ratio_c) bounds the
// loss of a negative-advantage token whose ratio has grown past c, which the
// ordinary clip leaves unbounded.
//
// (docs/loss-aggregation.md). J is not normalized further: the weights are global,
// so summing micro-batches and ranks gives the step's loss exactly.
#pragma once

#include <torch/types.h>

namespace deltarl {

struct PolicyLossOptions {
  double clip_ratio_low = 0.2;
  double clip_ratio_high = 0.28;
  double clip_ratio_c = 3.0;    // the dual clip's c > 1
  double kl_coef = 0.0;
  double entropy_coef = 0.0;
};

struct PolicyLoss {
  torch::Tensor loss;           // scalar fp32, differentiable
  double clipped_tokens = 0;    // tokens where the clipped branch was taken
  double lower_clipped_tokens = 0;  // tokens where the dual clip bound -A·c was taken
  double ppo_kl_sum = 0;        // Σ over valid tokens of lp_old - lp
  double kl_sum = 0;            // Σ over valid tokens of the k3 estimate (0 without a reference)
  double ratio_max = 0;         // max r over valid tokens
};

// All (b, t) fp32 on one device: `log_probs` (with grad), `old_log_probs`,
// `mask` (1 on valid response tokens); `ref_log_probs` and `entropy` may be
// undefined (then the KL / entropy terms are 0). `advantages` and `weights` (b,).
// `token_weights` (b, t), the rollout correction's ρ, may be undefined (ρ = 1).
PolicyLoss policy_loss(const torch::Tensor& log_probs, const torch::Tensor& old_log_probs,
                       const torch::Tensor& ref_log_probs, const torch::Tensor& entropy, const torch::Tensor& mask,
                       const torch::Tensor& advantages, const torch::Tensor& weights,
                       const PolicyLossOptions& options, const torch::Tensor& token_weights = {});

// Per-token entropy of softmax(logits / T), (…, vocab) → (…) fp32.
torch::Tensor token_entropy(const torch::Tensor& logits, double temperature);

}  // namespace deltarl
