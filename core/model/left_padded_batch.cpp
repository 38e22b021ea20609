#include "core/model/left_padded_batch.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>

namespace deltarl {

torch::Tensor LeftPaddedBatch::prompt_mask() const { return mask.narrow(1, 0, longest); }

LeftPaddedBatch left_pad(const std::vector<std::vector<int64_t>>& prompts, int64_t mask_room) {
  TORCH_CHECK(!prompts.empty() && mask_room >= 0, "left_pad: prompts and a non-negative mask_room expected");
  LeftPaddedBatch batch;
  for (const auto& prompt : prompts) {
    TORCH_CHECK(!prompt.empty(), "left_pad: an empty prompt");
    batch.longest = std::max(batch.longest, static_cast<int64_t>(prompt.size()));
  }
  const int64_t rows = static_cast<int64_t>(prompts.size()), width = batch.longest + mask_room;
  std::vector<int64_t> ids(static_cast<size_t>(rows * batch.longest), 0), mask(static_cast<size_t>(rows * width), 0);
  for (int64_t row = 0; row < rows; ++row) {
    const auto& prompt = prompts[static_cast<size_t>(row)];
    const int64_t offset = batch.longest - static_cast<int64_t>(prompt.size());
    std::copy(prompt.begin(), prompt.end(), ids.begin() + row * batch.longest + offset);
    std::fill_n(mask.begin() + row * width + offset, prompt.size(), int64_t{1});
  }
  batch.ids = torch::tensor(ids, torch::kInt64).view({rows, batch.longest});
  batch.mask = torch::tensor(mask, torch::kInt64).view({rows, width});
  batch.positions = (batch.prompt_mask().cumsum(1) - 1).clamp_min(0);
  return batch;
}

}  // namespace deltarl
