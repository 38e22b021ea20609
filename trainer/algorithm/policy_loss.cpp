#include "trainer/algorithm/policy_loss.h"

#include <torch/torch.h>

namespace deltarl {

PolicyLoss policy_loss(const torch::Tensor& log_probs, const torch::Tensor& old_log_probs,
                       const torch::Tensor& ref_log_probs, const torch::Tensor& entropy, const torch::Tensor& mask,
                       const torch::Tensor& advantages, const torch::Tensor& weights,
                       const PolicyLossOptions& options, const torch::Tensor& token_weights) {
  const torch::Tensor advantage = advantages.unsqueeze(1);  // (b, 1)
  const torch::Tensor ratio = torch::exp(log_probs - old_log_probs);
  const torch::Tensor unclipped = -advantage * ratio;
  const torch::Tensor clipped =
      -advantage * torch::clamp(ratio, 1.0 - options.clip_ratio_low, 1.0 + options.clip_ratio_high);
  const torch::Tensor clipped_loss = torch::maximum(unclipped, clipped);  // (b, t)
  const torch::Tensor dual_bound = -advantage * options.clip_ratio_c;      // (b, 1)
  const torch::Tensor negative = (advantage < 0).expand_as(clipped_loss);
  torch::Tensor per_token = torch::where(negative, torch::minimum(clipped_loss, dual_bound), clipped_loss);

  PolicyLoss result;
  {
    torch::NoGradGuard no_grad;
    result.clipped_tokens = ((clipped > unclipped).to(torch::kFloat32) * mask).sum().item<double>();
    result.lower_clipped_tokens =
        ((negative & (dual_bound < clipped_loss)).to(torch::kFloat32) * mask).sum().item<double>();
    result.ppo_kl_sum = ((old_log_probs - log_probs) * mask).sum().item<double>();
    const torch::Tensor valid_ratio = torch::where(mask > 0, ratio, torch::zeros_like(ratio));
    result.ratio_max = valid_ratio.numel() > 0 ? valid_ratio.max().item<double>() : 0.0;
  }
  if (token_weights.defined()) per_token = per_token * token_weights;
  if (ref_log_probs.defined()) {
    const torch::Tensor difference = ref_log_probs - log_probs;
    const torch::Tensor kl = torch::exp(difference) - difference - 1.0;  // k3: unbiased, ≥ 0
    {
      torch::NoGradGuard no_grad;
      result.kl_sum = (kl * mask).sum().item<double>();
    }
    if (options.kl_coef != 0) per_token = per_token + options.kl_coef * kl;
  }
  if (entropy.defined() && options.entropy_coef != 0) per_token = per_token - options.entropy_coef * entropy;
  const torch::Tensor sample_sums = (per_token * mask).sum(/*dim=*/1);  // (b,)
  result.loss = (sample_sums * weights.to(sample_sums.scalar_type())).sum();
  return result;
}

torch::Tensor token_entropy(const torch::Tensor& logits, double temperature) {
  auto entropy_of = [temperature](const torch::Tensor& chunk) {
    const torch::Tensor log_probs = torch::log_softmax(chunk.to(torch::kFloat32) / temperature, /*dim=*/-1);
    return -(log_probs.exp() * log_probs).sum(/*dim=*/-1);
  };
  if (logits.requires_grad() && torch::GradMode::is_enabled()) return entropy_of(logits);
  // A metric only: a few rows of vocabulary-sized temporaries at a time, not the
  // whole (…, vocab) twice over (5 GB at 8 × 1024 tokens of a 151k vocabulary).
  const torch::Tensor rows = logits.reshape({-1, logits.size(-1)});
  std::vector<torch::Tensor> parts;
  for (int64_t begin = 0; begin < rows.size(0); begin += 1024) {
    parts.push_back(entropy_of(rows.narrow(0, begin, std::min<int64_t>(1024, rows.size(0) - begin))));
  }
  std::vector<int64_t> shape(logits.sizes().begin(), logits.sizes().end() - 1);
  return parts.empty() ? torch::zeros(shape, logits.options().dtype(torch::kFloat32)) : torch::cat(parts).reshape(shape);
}

}  // namespace deltarl
