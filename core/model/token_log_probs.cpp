#include "core/model/token_log_probs.h"

#include <c10/util/Exception.h>

namespace deltarl {

torch::Tensor token_log_probs(const torch::Tensor& logits, const torch::Tensor& tokens, double temperature) {
  TORCH_CHECK(temperature > 0, "token_log_probs: temperature must be > 0, got ", temperature);
  TORCH_CHECK(logits.dim() == tokens.dim() + 1, "token_log_probs: logits ", logits.sizes(), " and tokens ",
              tokens.sizes(), " do not match");
  torch::Tensor scaled = logits.to(torch::kFloat32);
  if (temperature != 1.0) scaled = scaled / temperature;
  return torch::log_softmax(scaled, /*dim=*/-1).gather(/*dim=*/-1, tokens.unsqueeze(-1)).squeeze(-1);
}

}  // namespace deltarl
