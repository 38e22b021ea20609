// The one log-probability function of deltarl (docs/model.md): per token,
// log_softmax(logits / T) of the given token, in fp32. Learner and rollout
// workers both call it, so their numbers agree exactly on the same logits.
#pragma once

#include <torch/types.h>

namespace deltarl {

// logits (…, vocab) any float dtype; tokens (…) int64, same leading shape.
// Returns (…) fp32. Requires temperature > 0.
torch::Tensor token_log_probs(const torch::Tensor& logits, const torch::Tensor& tokens, double temperature = 1.0);

}  // namespace deltarl
