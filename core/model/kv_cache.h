// KvCache: keys and values of every layer for incremental decoding, preallocated
// to a fixed capacity so decoding never reallocates. By default all rows of the
// batch advance together (one shared length); rows shorter than others are
// handled by the attention mask the caller passes (left padding).
//
// Per-row mode (use_row_lengths): the first `active` rows each hold their own
// sequence from column 0 with its own length; a one-token step writes each
// row's new key at that row's length, and the caller's attention mask marks
// each row's valid columns [0, length]. The rollout engine's continuous
// batching keeps its running sequences in these rows.
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

  // Direct access to a layer's storage (batch, kv_heads, capacity, head_dim) and
  // to the length, for assembling the caches of separate sequences into one
  // batch (the rollout workers' continuous batching).
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  torch::Tensor& keys(int64_t layer) { return keys_[static_cast<size_t>(layer)]; }
  torch::Tensor& values(int64_t layer) { return values_[static_cast<size_t>(layer)]; }
  void set_length(int64_t length);

  // Per-row mode with these lengths for rows 0 .. lengths.size()-1 (the active
  // rows); length() is then their maximum and advance(1) moves every one.
  void use_row_lengths(std::vector<int64_t> lengths);
  const std::vector<int64_t>& row_lengths() const { return row_lengths_; }
  bool per_row() const { return per_row_; }

 private:
  // Per-row mode: fresh (active, kv_heads, 1, head_dim) into `stored` at each row's length.
  void write_at_row_lengths(torch::Tensor& stored, const torch::Tensor& fresh) const;

  std::vector<torch::Tensor> keys_, values_;
  int64_t batch_, capacity_;
  int64_t length_ = 0;
  bool per_row_ = false;
  std::vector<int64_t> row_lengths_;
  torch::Tensor row_index_, column_index_;  // (active,) int64 on the cache's device
};

}  // namespace deltarl
