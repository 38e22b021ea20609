// KvCache: keys and values of every layer for incremental decoding, preallocated
// to a fixed capacity so decoding never reallocates. By default all rows of the
// batch advance together (one shared length); rows shorter than others are
// handled by the attention mask the caller passes (left padding).
//
// generate() and prefills decode in it; the rollout engine's running
// sequences live in a PagedKvCache (paged_kv_cache.h) instead.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace deltarl {

class KvCache {
 public:
  // (batch, kv_heads, capacity, head_dim) per layer, in `options`' dtype/device.
  KvCache(int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim,
          torch::TensorOptions options);

  int64_t length() const { return length_; }      // positions already cached
  int64_t capacity() const { return capacity_; }
  int64_t batch() const { return batch_; }

  // Writes `keys`/`values` (batch, kv_heads, new, head_dim) of `layer` at
  // [length, length + new) and returns views of all cached positions
  // (batch, kv_heads, length + new, head_dim). The length itself advances only
  // with advance(), once every layer has been updated. TORCH_CHECK on overflow.
  std::pair<torch::Tensor, torch::Tensor> update(int64_t layer, const torch::Tensor& keys,
                                                 const torch::Tensor& values);
  void advance(int64_t positions);
  void reset() { length_ = 0; }

  // A layer's storage (batch, kv_heads, capacity, head_dim), for copying a
  // prefill's keys and values into another cache (the engine's paged pool).
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  torch::Tensor& keys(int64_t layer) { return keys_[static_cast<size_t>(layer)]; }
  torch::Tensor& values(int64_t layer) { return values_[static_cast<size_t>(layer)]; }

 private:
  std::vector<torch::Tensor> keys_, values_;
  int64_t batch_, capacity_;
  int64_t length_ = 0;
};

}  // namespace deltarl
