#include "core/model/kv_cache.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>

namespace deltarl {

KvCache::KvCache(int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim,
                 torch::TensorOptions options)
    : batch_(batch), capacity_(capacity) {
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    keys_.push_back(torch::zeros({batch, kv_heads, capacity, head_dim}, options));
    values_.push_back(torch::zeros({batch, kv_heads, capacity, head_dim}, options));
  }
}

void KvCache::use_row_lengths(std::vector<int64_t> lengths) {
  TORCH_CHECK(static_cast<int64_t>(lengths.size()) <= batch_, "more active rows than the cache holds");
  for (const int64_t length : lengths) {
    TORCH_CHECK(length >= 0 && length <= capacity_, "a row length of ", length, " is outside the cache's [0, ",
                capacity_, "]");
  }
  per_row_ = true;
  row_lengths_ = std::move(lengths);
  length_ = row_lengths_.empty() ? 0 : *std::max_element(row_lengths_.begin(), row_lengths_.end());
  const auto device = keys_.front().device();
  row_index_ = torch::arange(static_cast<int64_t>(row_lengths_.size()), torch::TensorOptions().dtype(torch::kInt64).device(device));
  column_index_ = torch::tensor(row_lengths_, torch::kInt64).to(device);
}

void KvCache::write_at_row_lengths(torch::Tensor& stored, const torch::Tensor& fresh) const {
  const int64_t active = static_cast<int64_t>(row_lengths_.size());
  const int64_t kv_heads = stored.size(1), head_dim = stored.size(3);
  TORCH_CHECK(fresh.dim() == 4 && fresh.size(0) == active && fresh.size(1) == kv_heads && fresh.size(2) == 1 &&
                  fresh.size(3) == head_dim,
              "a per-row KV cache step takes (", active, ", ", kv_heads, ", 1, ", head_dim, "), got ", fresh.sizes());
  const bool records_gradients = torch::GradMode::is_enabled() && fresh.requires_grad();
  if (records_gradients || !stored.device().is_cpu() || fresh.scalar_type() != stored.scalar_type() ||
      !fresh.device().is_cpu() || stored.stride(3) != 1 || fresh.stride(3) != 1) {
    using torch::indexing::Slice;
    stored.index_put_({row_index_, Slice(), column_index_}, fresh.squeeze(2));
    return;
  }
  // On the CPU, one copy of head_dim elements per row and head: indexed
  // assignment costs tens of microseconds per call, twice per layer and step.
  const int64_t element = stored.element_size();
  auto* to = static_cast<char*>(stored.data_ptr());
  const auto* from = static_cast<const char*>(fresh.data_ptr());
  for (int64_t r = 0; r < active; ++r) {
    for (int64_t h = 0; h < kv_heads; ++h) {
      const int64_t target = r * stored.stride(0) + h * stored.stride(1) + row_lengths_[static_cast<size_t>(r)] * stored.stride(2);
      const int64_t source = r * fresh.stride(0) + h * fresh.stride(1);
      std::memcpy(to + target * element, from + source * element, static_cast<size_t>(head_dim * element));
    }
  }
}

std::pair<torch::Tensor, torch::Tensor> KvCache::update(int64_t layer, const torch::Tensor& keys,
                                                        const torch::Tensor& values) {
  if (per_row_) {
    const int64_t active = static_cast<int64_t>(row_lengths_.size());
    TORCH_CHECK(keys.size(0) == active && keys.size(2) == 1, "a per-row KV cache takes one new token for each of its ",
                active, " active rows, got ", keys.sizes());
    TORCH_CHECK(length_ + 1 <= capacity_, "KV cache full: a row would pass capacity ", capacity_);
    write_at_row_lengths(keys_[layer], keys);
    write_at_row_lengths(values_[layer], values);
    return {keys_[layer].narrow(0, 0, active).narrow(2, 0, length_ + 1),
            values_[layer].narrow(0, 0, active).narrow(2, 0, length_ + 1)};
  }
  const int64_t added = keys.size(2);
  TORCH_CHECK(length_ + added <= capacity_, "KV cache full: ", length_, " + ", added, " positions exceed capacity ",
              capacity_, " (raise max_new_tokens' budget or the cache size)");
  TORCH_CHECK(keys.size(0) == batch_, "KV cache holds batch ", batch_, ", got ", keys.size(0));
  keys_[layer].narrow(2, length_, added).copy_(keys);
  values_[layer].narrow(2, length_, added).copy_(values);
  return {keys_[layer].narrow(2, 0, length_ + added), values_[layer].narrow(2, 0, length_ + added)};
}

void KvCache::set_length(int64_t length) {
  TORCH_CHECK(length >= 0 && length <= capacity_, "KV cache length ", length, " outside [0, ", capacity_, "]");
  length_ = length;
}

void KvCache::advance(int64_t positions) {
  TORCH_CHECK(length_ + positions <= capacity_, "KV cache advanced past its capacity");
  length_ += positions;
  if (!per_row_) return;
  for (auto& row : row_lengths_) row += positions;
  column_index_ = column_index_ + positions;
}

}  // namespace deltarl
