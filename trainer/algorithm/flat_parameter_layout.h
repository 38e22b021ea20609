// FlatParameterLayout: a model's parameters laid end to end in one flat
// space (in the order given, numel each), padded with zeros to a multiple of
// `shards` and cut into `shards` contiguous, equal shards: the space that
// FlatGradients accumulates in and that a sharded AdamW keeps one shard of
// (Note [ZeRO stages], trainer/algorithm/flat_gradients.h).
//
//   FlatParameterLayout layout(model->parameters(), world_size);
//   for (const ParameterPiece& piece : layout.pieces(rank)) ...   // what rank's shard holds
//
// A shard boundary may cut a parameter; pieces() says which element range of
// which parameter each part of a shard is, so an optimizer can tell a matrix
// (weight decay) from a bias per element range.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace deltarl {

// Elements [begin, end) of parameter `parameter` (row-major flat index),
// lying at [shard_offset, shard_offset + end - begin) of its shard.
struct ParameterPiece {
  size_t parameter = 0;
  int64_t begin = 0, end = 0;
  int64_t shard_offset = 0;
  int64_t numel() const { return end - begin; }
};

class FlatParameterLayout {
 public:
  // `shards` ≥ 1. Only the parameters' numel is read.
  FlatParameterLayout(const std::vector<torch::Tensor>& parameters, int shards);

  int shards() const { return shards_; }
  size_t parameters() const { return offsets_.size(); }
  int64_t numel() const { return numel_; }                 // Σ the parameters' numel
  int64_t padded_numel() const { return shard_numel_ * shards_; }
  int64_t shard_numel() const { return shard_numel_; }     // ⌈numel / shards⌉
  int64_t offset(size_t parameter) const { return offsets_.at(parameter); }
  int64_t numel(size_t parameter) const { return numels_.at(parameter); }

  // The parts of parameters in shard `shard`, in flat order; padding has none.
  std::vector<ParameterPiece> pieces(int shard) const;

 private:
  std::vector<int64_t> offsets_, numels_;
  int64_t numel_ = 0;
  int64_t shard_numel_ = 0;
  int shards_ = 1;
};

}  // namespace deltarl
