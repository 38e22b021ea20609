// sequence_log_prob(): log p(response | prompt) of a rollout sample under a
// model, for tests that check which way a policy update moved the policy.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "core/model/causal_lm.h"
#include "core/model/token_log_probs.h"
#include "trainer/algorithm/rollout_sample.h"

namespace deltarl::testing_support {

inline double sequence_log_prob(CausalLM& model, const RolloutSample& s) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids(s.prompt_ids.begin(), s.prompt_ids.end());
  ids.insert(ids.end(), s.response_ids.begin(), s.response_ids.end());
  const torch::Tensor input = torch::tensor(ids).unsqueeze(0);
  const torch::Tensor logits = model->forward(input).squeeze(0);  // (s, vocab)
  const auto prompt = static_cast<int64_t>(s.prompt_ids.size());
  const auto response = static_cast<int64_t>(s.response_ids.size());
  const torch::Tensor targets = input.squeeze(0).narrow(0, prompt, response);
  return token_log_probs(logits.narrow(0, prompt - 1, response), targets).sum().item<double>();
}

}  // namespace deltarl::testing_support
