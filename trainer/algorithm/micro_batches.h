// Micro-batches: how a rank's samples of one update (or of the π_old pass) are
// split into the forward/backward passes whose gradients accumulate. The loss
// is a sum of per-sample terms with global weights, so the split changes only
// memory and rounding, never what is computed (the invariance tests hold it).
//
//   by count (train.micro_batch_size): consecutive runs of at most `size`
//     samples, in the order given;
//   by tokens (train.micro_batch_tokens > 0, which takes precedence, like
//     verl's ppo_max_token_len_per_gpu): samples sorted by length, longest
//     first (ties in the order given), filled greedily into micro-batches of at
//     most `token_budget` padded tokens, where a micro-batch's padded tokens
//     are its sample count × its longest sample's tokens (prompt + response),
//     the (batch, sequence) the forward runs. Long samples go few to a pass and
//     short ones many, instead of every pass padding to the longest.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/algorithm/rollout_sample.h"

namespace deltarl {

struct MicroBatching {
  int64_t size = 8;          // samples per micro-batch, when token_budget is 0
  int64_t token_budget = 0;  // > 0: padded tokens per micro-batch, by length

  // Throws InputError naming the key for size < 1 or token_budget < 0.
  void validate() const;
};

// `samples` split as `batching` says. With a token budget, a sample longer than
// the budget is an InputError naming it (group, index, tokens) and the value
// train.micro_batch_tokens needs.
std::vector<std::vector<RolloutSample*>> micro_batches(const std::vector<RolloutSample*>& samples,
                                                       const MicroBatching& batching);

// Consecutive runs of at most `size` (the last may be shorter).
std::vector<std::vector<const RolloutSample*>> micro_batches(const std::vector<RolloutSample>& samples,
                                                             int64_t size);
std::vector<std::vector<RolloutSample*>> micro_batches(const std::vector<RolloutSample*>& samples, int64_t size);

}  // namespace deltarl
