// Rollout correction: importance weights for the mismatch between the rollout
// engine's log-probs (π_rollout, from the workers) and the learner's π_old, as
// verl's rollout_is / OpenRLHF's vLLM correction. The workers decode with other
// kernels (and, one step off, may sample from older weights), so the samples
// are drawn from π_rollout, not π_old; the weight π_old / π_rollout corrects
// the PPO surrogate's expectation, truncated or masked to bound its variance.
//
//   none      w_t = 1
//   tis       w_t = min(ρ_t, C)                          ρ_t = π_old / π_rollout per token
//   mis       w_t = 1 if ρ_t ∈ [1/C, C], else 0
//   seq-tis   w_t = min(ρ̄, C) on every token of the sequence
//   seq-mis   w_t = 1 if ρ̄ ∈ [1/C, C], else 0            ρ̄ = exp(mean_t log ρ_t), the
//                                                           per-token geometric mean
//
// The sequence forms use the geometric mean of the ratios per token rather
// than their product: a product over thousands of tokens is 0 or ∞ in any
// float, so a cap on it would mask nearly every long sequence.
// The weights multiply the PPO-clip term of each token's loss only (not the KL
// or entropy terms) and carry no gradient (docs/loss-aggregation.md).
#pragma once

#include <string>

#include <torch/types.h>

namespace deltarl {

enum class RolloutCorrection { kNone, kTis, kMis, kSeqTis, kSeqMis };

RolloutCorrection parse_rollout_correction(const std::string& name);  // throws InputError listing the names
const char* rollout_correction_name(RolloutCorrection correction);

struct RolloutCorrectionOptions {
  RolloutCorrection mode = RolloutCorrection::kNone;
  double cap = 2.0;  // C > 1
};

struct RolloutCorrectionWeights {
  torch::Tensor weights;       // (b, t) fp32, 0 off the mask; undefined for kNone
  double weight_sum = 0;       // Σ w_t over valid tokens
  double corrected_tokens = 0; // valid tokens truncated (tis forms) or masked (mis forms)
};

// `old_log_probs`, `rollout_log_probs`, `mask`: (b, t) fp32 on one device, mask 1
// on valid tokens. For kNone: an undefined tensor, weight_sum = valid tokens.
RolloutCorrectionWeights rollout_correction_weights(const torch::Tensor& old_log_probs,
                                                    const torch::Tensor& rollout_log_probs,
                                                    const torch::Tensor& mask, const RolloutCorrectionOptions& options);

}  // namespace deltarl
