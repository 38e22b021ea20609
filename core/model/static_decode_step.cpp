#include "core/model/static_decode_step.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

namespace deltarl {

namespace {

torch::TensorOptions on_device_of(const PagedKvCache& cache, torch::Dtype dtype) {
  return torch::TensorOptions().dtype(dtype).device(cache.keys(0).device());
}

}  // namespace

StaticDecodeStep::StaticDecodeStep(CausalLM model, PagedKvCache& cache, int64_t batch, int64_t context,
                                   int64_t scratch_slot)
    : model_(std::move(model)),
      cache_(cache),
      batch_(batch),
      context_(context),
      scratch_slot_(scratch_slot),
      tokens_(torch::zeros({batch, 1}, on_device_of(cache, torch::kInt64))),
      positions_(torch::zeros({batch, 1}, on_device_of(cache, torch::kInt64))),
      new_slots_(torch::full({batch}, scratch_slot, on_device_of(cache, torch::kInt64))),
      gather_slots_(torch::full({batch, context}, scratch_slot, on_device_of(cache, torch::kInt64))),
      gather_valid_(torch::zeros({batch, context}, on_device_of(cache, torch::kBool))),
      paged_(cache, new_slots_, gather_slots_, gather_valid_) {
  TORCH_CHECK(batch >= 1 && context >= 1, "StaticDecodeStep: batch and context must be positive");
  gather_valid_.select(1, 0).fill_(true);  // a padding row attends to the scratch slot alone
}

void StaticDecodeStep::set(const std::vector<int64_t>& tokens,
                           const std::vector<const PagedKvCache::BlockTable*>& tables) {
  const int64_t rows = static_cast<int64_t>(tables.size());
  TORCH_CHECK(rows >= 1 && rows <= batch_ && tokens.size() == tables.size(), "StaticDecodeStep::set: ", rows,
              " tables and ", tokens.size(), " tokens for a step of ", batch_, " rows");
  // Built on the host, then one copy into each static tensor.
  std::vector<int64_t> token_values(static_cast<size_t>(batch_), 0), position_values(static_cast<size_t>(batch_), 0);
  std::vector<int64_t> new_slots(static_cast<size_t>(batch_), scratch_slot_);
  std::vector<int64_t> slots(static_cast<size_t>(batch_ * context_), scratch_slot_);
  std::vector<uint8_t> valid(static_cast<size_t>(batch_ * context_), 0);
  for (int64_t r = 0; r < batch_; ++r) valid[static_cast<size_t>(r * context_)] = 1;
  for (int64_t r = 0; r < rows; ++r) {
    const PagedKvCache::BlockTable& table = *tables[static_cast<size_t>(r)];
    const int64_t length = table.length + 1;
    TORCH_CHECK(length <= context_, "StaticDecodeStep::set: a sequence of ", length, " positions in a context of ",
                context_);
    const std::vector<int64_t> row_slots = cache_.slots(table, 0, length);  // checks the reservation
    std::copy(row_slots.begin(), row_slots.end(), slots.begin() + r * context_);
    std::fill_n(valid.begin() + r * context_, length, uint8_t{1});
    token_values[static_cast<size_t>(r)] = tokens[static_cast<size_t>(r)];
    position_values[static_cast<size_t>(r)] = table.length;
    new_slots[static_cast<size_t>(r)] = row_slots.back();
  }
  tokens_.copy_(torch::tensor(token_values, torch::kInt64).view({batch_, 1}));
  positions_.copy_(torch::tensor(position_values, torch::kInt64).view({batch_, 1}));
  new_slots_.copy_(torch::tensor(new_slots, torch::kInt64));
  gather_slots_.copy_(torch::tensor(slots, torch::kInt64).view({batch_, context_}));
  gather_valid_.copy_(torch::tensor(valid, torch::kUInt8).view({batch_, context_}).to(torch::kBool));
}

torch::Tensor StaticDecodeStep::forward() { return model_->decode_paged(tokens_, positions_, paged_); }

}  // namespace deltarl
