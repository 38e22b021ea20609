#include "core/model/kv_cache.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

namespace deltarl {

KvCache::KvCache(int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim,
                 torch::TensorOptions options)
    : batch_(batch), capacity_(capacity) {
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    keys_.push_back(torch::zeros({batch, kv_heads, capacity, head_dim}, options));
    values_.push_back(torch::zeros({batch, kv_heads, capacity, head_dim}, options));
  }
}

std::pair<torch::Tensor, torch::Tensor> KvCache::update(int64_t layer, const torch::Tensor& keys,
                                                        const torch::Tensor& values) {
  const int64_t added = keys.size(2);
  TORCH_CHECK(length_ + added <= capacity_, "KV cache full: ", length_, " + ", added, " positions exceed capacity ",
              capacity_, " (raise max_new_tokens' budget or the cache size)");
  TORCH_CHECK(keys.size(0) == batch_, "KV cache holds batch ", batch_, ", got ", keys.size(0));
  keys_[layer].narrow(2, length_, added).copy_(keys);
  values_[layer].narrow(2, length_, added).copy_(values);
  return {keys_[layer].narrow(2, 0, length_ + added), values_[layer].narrow(2, 0, length_ + added)};
}

void KvCache::advance(int64_t positions) {
  TORCH_CHECK(length_ + positions <= capacity_, "KV cache advanced past its capacity");
  length_ += positions;
}

}  // namespace deltarl
