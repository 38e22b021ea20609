// PagedKvCache: the keys and values of many sequences in fixed-size blocks of
// one preallocated pool (vLLM's PagedAttention layout). Memory goes to a
// sequence block_size positions at a time as it grows, returns to the pool the
// moment the sequence ends, and a prompt's blocks can be shared by every sample
// of its group. Decoding reads it through PagedDecodeBatch
// (paged_attention.h).
//
// Storage, per layer: keys and values (num_blocks · block_size, kv_heads,
// head_dim); position p of a sequence lives in slot
// blocks[p / block_size] · block_size + p % block_size. A sequence is a
// BlockTable: its blocks in order and the positions written. Blocks are
// reference counted. share() gives a new table the same full blocks and a copy
// of a partly filled last one (copy on write, done at once), so a table never
// writes into a block another table reads.
//
// Not thread-safe: one thread (the rollout engine's) owns it.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace deltarl {

class PagedKvCache {
 public:
  struct BlockTable {
    std::vector<int64_t> blocks;
    int64_t length = 0;  // positions written
  };

  PagedKvCache(int64_t num_layers, int64_t kv_heads, int64_t head_dim, int64_t block_size, int64_t num_blocks,
               torch::TensorOptions options);
  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;

  // Bytes of one block: keys and values of every layer.
  static int64_t block_bytes(int64_t num_layers, int64_t kv_heads, int64_t head_dim, int64_t block_size,
                             torch::Dtype dtype);
  // Blocks that hold `positions` positions.
  static int64_t blocks_for(int64_t positions, int64_t block_size) { return (positions + block_size - 1) / block_size; }

  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return static_cast<int64_t>(references_.size()); }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  int64_t bytes() const;  // the whole pool

  // Adds blocks to `table` until it can hold `positions` positions. False,
  // changing nothing, when the pool has too few free blocks.
  bool reserve(BlockTable& table, int64_t positions);
  // Makes `copy` (empty) a table of `source`'s positions: full blocks shared,
  // a partly filled last block copied. False, changing nothing, when no block
  // is free for that copy.
  bool share(const BlockTable& source, BlockTable& copy);
  // Gives the table's blocks back (those no other table holds return to the
  // pool) and empties it.
  void release(BlockTable& table);

  // The slots of positions [from, to) of `table` (which must hold them).
  std::vector<int64_t> slots(const BlockTable& table, int64_t from, int64_t to) const;
  // Writes `keys`/`values` (n, kv_heads, head_dim) of `layer` into `slots`
  // (n,) int64 on the pool's device.
  void write(int64_t layer, const torch::Tensor& slots, const torch::Tensor& keys, const torch::Tensor& values);
  // (num_blocks · block_size, kv_heads, head_dim)
  const torch::Tensor& keys(int64_t layer) const { return keys_[static_cast<size_t>(layer)]; }
  const torch::Tensor& values(int64_t layer) const { return values_[static_cast<size_t>(layer)]; }

 private:
  int64_t take_free_block();

  int64_t block_size_;
  std::vector<torch::Tensor> keys_, values_;
  std::vector<int32_t> references_;  // tables holding each block
  std::vector<int64_t> free_;        // a stack: the last freed block is reused first
};

}  // namespace deltarl
