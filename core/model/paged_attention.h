// Decode attention over a PagedKvCache: one new token per sequence, each
// attending to its own positions only, read from its own blocks, with no
// padding to the longest sequence.
//
//   PagedDecodeBatch batch(cache, tables);          // tables already reserved for one more position
//   logits = model->decode_paged(tokens, positions, batch);
//
// Per layer, attend() writes the new token's key and value into each table's
// slot at position `table.length` and returns the attention of the new token's
// queries over positions [0, length]. The tables' lengths are the caller's to
// advance once every layer has run (PagedDecodeBatch changes nothing in them).
//
// On the CPU in float32, a kernel of deltarl's own reads each (sequence,
// kv head)'s keys and values straight from the pool (versions for AVX-512,
// AVX2 and plain x86-64, core/cpu_kernels.h); it equals the dense decode path
// up to the order of the sums. Elsewhere the rows' positions are gathered
// from the blocks into one packed (total positions, kv_heads, head_dim) run,
// row after row, with no padding: on CUDA GPUs from Ampere on in bfloat16 or
// float16, PyTorch's FlashAttention-2 kernel for variable-length batches
// attends over it; otherwise each row attends over its own part.
//
// The fixed-shape form (what a CUDA graph captures) gathers a padded
// (b, kv_heads, context, head_dim) batch under a mask instead: its shapes
// cannot follow the rows' lengths.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "core/model/paged_kv_cache.h"

namespace deltarl {

class PagedDecodeBatch {
 public:
  // Each table must hold one more position than it has written (reserve()).
  PagedDecodeBatch(PagedKvCache& cache, const std::vector<const PagedKvCache::BlockTable*>& tables);
  // Fixed shapes, always the gathering path (what a CUDA graph captures,
  // static_decode_step.h): row r writes at new_slots[r] (b,) and attends to
  // the slots gather_slots[r] (b, context) where gather_valid[r] (bool) is
  // true, all on the pool's device. The tensors are read at attend(), so the
  // caller may refill them between steps.
  PagedDecodeBatch(PagedKvCache& cache, torch::Tensor new_slots, torch::Tensor gather_slots, torch::Tensor gather_valid);

  int64_t size() const { return size_; }

  // q (b, heads, 1, d), k and v (b, kv_heads, 1, d) of `layer`: writes k and v
  // at each row's new position, returns the attended values (b, heads, d) in
  // q's dtype. heads must be a multiple of kv_heads.
  torch::Tensor attend(int64_t layer, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       double scale);

 private:
  torch::Tensor attend_on_cpu(int64_t layer, const torch::Tensor& q, double scale) const;
  torch::Tensor attend_packed(int64_t layer, const torch::Tensor& q, double scale);
  torch::Tensor attend_padded(int64_t layer, const torch::Tensor& q, double scale);

  PagedKvCache& cache_;
  int64_t size_ = 0;
  bool fixed_shapes_ = false;
  std::vector<int64_t> lengths_;  // positions each row attends to, the new one included (not fixed_shapes_)
  torch::Tensor new_slots_;       // (b,) int64 on the pool's device
  torch::Tensor block_tables_;    // (b, most blocks) int64 on the CPU, rows padded with 0
  torch::Tensor packed_slots_;    // (total,) int64 on the device, made on first use (not fixed_shapes_)
  torch::Tensor row_starts_, query_starts_;    // (b + 1,) int32 on the device: where each row's run starts
  torch::Tensor gather_slots_, gather_valid_;  // (b, context) on the device (fixed_shapes_)
};

}  // namespace deltarl
