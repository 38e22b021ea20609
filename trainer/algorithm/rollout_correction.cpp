#include "trainer/algorithm/rollout_correction.h"

#include <cmath>

#include <torch/torch.h>

#include "core/input_error.h"

namespace deltarl {

namespace {

struct CorrectionName {
  RolloutCorrection correction;
  const char* name;
};
constexpr CorrectionName kNames[] = {{RolloutCorrection::kNone, "none"},
                                     {RolloutCorrection::kTis, "tis"},
                                     {RolloutCorrection::kMis, "mis"},
                                     {RolloutCorrection::kSeqTis, "seq-tis"},
                                     {RolloutCorrection::kSeqMis, "seq-mis"}};

}  // namespace

RolloutCorrection parse_rollout_correction(const std::string& name) {
  for (const auto& entry : kNames) {
    if (name == entry.name) return entry.correction;
  }
  throw InputError("algorithm.rollout_correction must be none, tis, mis, seq-tis or seq-mis, not \"" + name + "\"");
}

const char* rollout_correction_name(RolloutCorrection correction) {
  for (const auto& entry : kNames) {
    if (correction == entry.correction) return entry.name;
  }
  return "unknown";
}

RolloutCorrectionWeights rollout_correction_weights(const torch::Tensor& old_log_probs,
                                                    const torch::Tensor& rollout_log_probs,
                                                    const torch::Tensor& mask, const RolloutCorrectionOptions& options) {
  torch::NoGradGuard no_grad;
  RolloutCorrectionWeights result;
  if (options.mode == RolloutCorrection::kNone) {
    result.weight_sum = mask.sum().item<double>();
    return result;
  }
  const double log_cap = std::log(options.cap);
  // Log-ratios in fp32 as the inputs are; 0 off the mask so padding never caps or masks.
  torch::Tensor log_ratio = (old_log_probs - rollout_log_probs) * mask;  // (b, t)
  const bool per_sequence = options.mode == RolloutCorrection::kSeqTis || options.mode == RolloutCorrection::kSeqMis;
  if (per_sequence) {
    const torch::Tensor lengths = mask.sum(/*dim=*/1, /*keepdim=*/true).clamp_min(1.0);  // (b, 1)
    log_ratio = (log_ratio.sum(/*dim=*/1, /*keepdim=*/true) / lengths).expand_as(mask);   // geometric mean per token
  }
  torch::Tensor corrected;  // (b, t) bool, valid tokens only
  if (options.mode == RolloutCorrection::kTis || options.mode == RolloutCorrection::kSeqTis) {
    corrected = (log_ratio > log_cap) & (mask > 0);
    result.weights = torch::exp(log_ratio.clamp_max(log_cap)) * mask;
  } else {
    corrected = ((log_ratio > log_cap) | (log_ratio < -log_cap)) & (mask > 0);
    result.weights = mask * (~corrected).to(mask.scalar_type());
  }
  result.weight_sum = result.weights.sum().item<double>();
  result.corrected_tokens = corrected.sum().item<double>();
  return result;
}

}  // namespace deltarl
