// last_position_logits(): a prefill's logits for each row's last position
// only, (b, vocab) fp32, where forward() would make (b, s, vocab): the decoder
// runs over every position (the KV cache needs them all) but the output layer
// over b rows, not b·s. For the qwen2.5-0.5b shapes a 200-token prompt's
// logits are 122 MB in fp32; its last position's, 0.6 MB.
//
//   KvCache cache = model->make_cache(b, capacity);
//   torch::Tensor first = last_position_logits(model, ids, mask, positions, &cache);  // (b, vocab)
//
// The values are forward()'s at position s − 1 (rows are left-padded, so every
// row's prompt ends there), to the rounding of an output-layer product over b
// rows instead of b·s; the cache is filled exactly as forward() fills it.
#pragma once

#include <torch/torch.h>

#include "core/model/kv_cache.h"
#include "core/model/causal_lm.h"

namespace deltarl {

// input_ids (b, s); attention_mask (b, past + s) or undefined; position_ids
// (b, s) or undefined, as for CausalLMImpl::forward.
torch::Tensor last_position_logits(CausalLM& model, const torch::Tensor& input_ids,
                                   const torch::Tensor& attention_mask = {}, const torch::Tensor& position_ids = {},
                                   KvCache* cache = nullptr);

}  // namespace deltarl
