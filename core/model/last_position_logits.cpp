#include "core/model/last_position_logits.h"

namespace deltarl {

torch::Tensor last_position_logits(CausalLM& model, const torch::Tensor& input_ids,
                                   const torch::Tensor& attention_mask, const torch::Tensor& position_ids,
                                   KvCache* cache) {
  const torch::Tensor hidden = model->hidden_states(input_ids, attention_mask, position_ids, cache);  // (b, s, h)
  return model->logits_from_hidden(hidden.select(/*dim=*/1, hidden.size(1) - 1).contiguous());
}

}  // namespace deltarl
