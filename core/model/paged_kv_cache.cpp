#include "core/model/paged_kv_cache.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

namespace deltarl {

PagedKvCache::PagedKvCache(int64_t num_layers, int64_t kv_heads, int64_t head_dim, int64_t block_size,
                           int64_t num_blocks, torch::TensorOptions options)
    : block_size_(block_size), references_(static_cast<size_t>(num_blocks), 0) {
  TORCH_CHECK(num_layers >= 1 && kv_heads >= 1 && head_dim >= 1 && block_size >= 1 && num_blocks >= 1,
              "PagedKvCache: layers, heads, head_dim, block size and blocks must be positive, got ", num_layers, ", ",
              kv_heads, ", ", head_dim, ", ", block_size, ", ", num_blocks);
  // Never read before written: empty, not zeros, so the pool's pages are
  // touched only as blocks are used.
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    keys_.push_back(torch::empty({num_blocks * block_size, kv_heads, head_dim}, options.requires_grad(false)));
    values_.push_back(torch::empty({num_blocks * block_size, kv_heads, head_dim}, options.requires_grad(false)));
  }
  for (int64_t block = num_blocks - 1; block >= 0; --block) free_.push_back(block);
}

int64_t PagedKvCache::block_bytes(int64_t num_layers, int64_t kv_heads, int64_t head_dim, int64_t block_size,
                                  torch::Dtype dtype) {
  return 2 * num_layers * block_size * kv_heads * head_dim * static_cast<int64_t>(c10::elementSize(dtype));
}

int64_t PagedKvCache::bytes() const {
  int64_t total = 0;
  for (size_t layer = 0; layer < keys_.size(); ++layer) total += keys_[layer].nbytes() + values_[layer].nbytes();
  return total;
}

int64_t PagedKvCache::take_free_block() {
  const int64_t block = free_.back();
  free_.pop_back();
  references_[static_cast<size_t>(block)] = 1;
  return block;
}

bool PagedKvCache::reserve(BlockTable& table, int64_t positions) {
  const int64_t needed = blocks_for(positions, block_size_) - static_cast<int64_t>(table.blocks.size());
  if (needed <= 0) return true;
  if (needed > free_blocks()) return false;
  for (int64_t i = 0; i < needed; ++i) table.blocks.push_back(take_free_block());
  return true;
}

bool PagedKvCache::share(const BlockTable& source, BlockTable& copy) {
  TORCH_CHECK(copy.blocks.empty(), "PagedKvCache::share: the copy must be an empty table");
  const int64_t full = source.length / block_size_;
  const bool partial = source.length % block_size_ != 0;
  if (partial && free_blocks() == 0) return false;
  for (int64_t i = 0; i < full; ++i) {
    const int64_t block = source.blocks[static_cast<size_t>(i)];
    ++references_[static_cast<size_t>(block)];
    copy.blocks.push_back(block);
  }
  if (partial) {
    const int64_t from = source.blocks[static_cast<size_t>(full)], to = take_free_block();
    const int64_t used = source.length % block_size_;
    for (size_t layer = 0; layer < keys_.size(); ++layer) {
      keys_[layer].narrow(0, to * block_size_, used).copy_(keys_[layer].narrow(0, from * block_size_, used));
      values_[layer].narrow(0, to * block_size_, used).copy_(values_[layer].narrow(0, from * block_size_, used));
    }
    copy.blocks.push_back(to);
  }
  copy.length = source.length;
  return true;
}

void PagedKvCache::release(BlockTable& table) {
  for (const int64_t block : table.blocks) {
    int32_t& references = references_[static_cast<size_t>(block)];
    TORCH_CHECK(references > 0, "PagedKvCache::release: block ", block, " is not held");
    if (--references == 0) free_.push_back(block);
  }
  table.blocks.clear();
  table.length = 0;
}

std::vector<int64_t> PagedKvCache::slots(const BlockTable& table, int64_t from, int64_t to) const {
  TORCH_CHECK(0 <= from && from <= to && to <= static_cast<int64_t>(table.blocks.size()) * block_size_,
              "PagedKvCache::slots: positions [", from, ", ", to, ") outside a table of ", table.blocks.size(),
              " blocks of ", block_size_);
  std::vector<int64_t> result;
  result.reserve(static_cast<size_t>(to - from));
  for (int64_t position = from; position < to; ++position) {
    result.push_back(table.blocks[static_cast<size_t>(position / block_size_)] * block_size_ + position % block_size_);
  }
  return result;
}

void PagedKvCache::write(int64_t layer, const torch::Tensor& slots, const torch::Tensor& keys,
                         const torch::Tensor& values) {
  torch::Tensor& stored_keys = keys_[static_cast<size_t>(layer)];
  TORCH_CHECK(keys.dim() == 3 && keys.size(1) == stored_keys.size(1) && keys.size(2) == stored_keys.size(2) &&
                  values.sizes() == keys.sizes() && slots.dim() == 1 && slots.size(0) == keys.size(0),
              "PagedKvCache::write: keys/values (n, ", stored_keys.size(1), ", ", stored_keys.size(2),
              ") at n slots expected, got ", keys.sizes(), ", ", values.sizes(), " at ", slots.sizes());
  stored_keys.index_copy_(0, slots, keys.to(stored_keys.scalar_type()));
  values_[static_cast<size_t>(layer)].index_copy_(0, slots, values.to(stored_keys.scalar_type()));
}

}  // namespace deltarl
