// Prompts of different lengths as one batch for a prefill: each row's prompt
// is right-aligned (left padding), so every prompt ends at the same column
// and the tokens decoded after it line up.
//
//   LeftPaddedBatch batch = left_pad(prompts, /*mask_room=*/max_new_tokens);
//   logits = last_position_logits(model, batch.ids, batch.prompt_mask(), batch.positions, &cache);
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace deltarl {

struct LeftPaddedBatch {
  int64_t longest = 0;   // the longest prompt, the ids' width
  torch::Tensor ids;     // (b, longest) int64, 0 in the padding
  torch::Tensor mask;    // (b, longest + mask_room) int64: 1 on the prompt's tokens, 0 elsewhere
  torch::Tensor positions;  // (b, longest) int64: 0, 1, ... along each prompt (0 in the padding)

  // The mask's first `longest` columns: the prompts alone.
  torch::Tensor prompt_mask() const;
};

// On the CPU; `mask_room` zero columns follow the prompts in the mask, for
// the caller to set as it decodes. The prompts must not be empty.
LeftPaddedBatch left_pad(const std::vector<std::vector<int64_t>>& prompts, int64_t mask_room = 0);

}  // namespace deltarl
