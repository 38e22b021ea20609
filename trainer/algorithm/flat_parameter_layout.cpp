#include "trainer/algorithm/flat_parameter_layout.h"

#include <algorithm>

#include <c10/util/Exception.h>

namespace deltarl {

FlatParameterLayout::FlatParameterLayout(const std::vector<torch::Tensor>& parameters, int shards) : shards_(shards) {
  TORCH_CHECK(shards >= 1, "FlatParameterLayout: shards must be ≥ 1, got ", shards);
  for (const auto& parameter : parameters) {
    offsets_.push_back(numel_);
    numels_.push_back(parameter.numel());
    numel_ += parameter.numel();
  }
  shard_numel_ = (numel_ + shards - 1) / shards;
}

std::vector<ParameterPiece> FlatParameterLayout::pieces(int shard) const {
  TORCH_CHECK(shard >= 0 && shard < shards_, "FlatParameterLayout::pieces: shard ", shard, " of ", shards_);
  const int64_t shard_begin = shard_numel_ * shard, shard_end = shard_begin + shard_numel_;
  std::vector<ParameterPiece> pieces;
  for (size_t p = 0; p < offsets_.size(); ++p) {
    const int64_t begin = std::max(offsets_[p], shard_begin);
    const int64_t end = std::min(offsets_[p] + numels_[p], shard_end);
    if (begin >= end) continue;
    pieces.push_back({p, begin - offsets_[p], end - offsets_[p], begin - shard_begin});
  }
  return pieces;
}

}  // namespace deltarl
