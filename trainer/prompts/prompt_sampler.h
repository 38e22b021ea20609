// PromptSampler: which dataset prompts each step trains on. Epoch e visits
// every prompt once, in a permutation that depends only on (seed, e) (or in file
// order without shuffling); draw() hands out the next prompts across epoch
// boundaries. The whole state is the count drawn so far (cursor()), so a
// checkpoint stores one number and a resumed run draws exactly the same prompts.
// Every rank holds the same sampler and draws the same global prompts; each
// rank then takes its shard of them.
#pragma once

#include <cstdint>
#include <vector>

namespace deltarl {

class PromptSampler {
 public:
  // Requires dataset_size ≥ 1.
  PromptSampler(uint64_t dataset_size, uint64_t seed, bool shuffle);

  // The next `count` dataset indices; advances the cursor by `count`.
  std::vector<uint64_t> draw(uint64_t count);

  uint64_t cursor() const { return cursor_; }
  void seek(uint64_t cursor) { cursor_ = cursor; }
  uint64_t epoch() const { return cursor_ / dataset_size_; }

 private:
  const std::vector<uint64_t>& order_of_epoch(uint64_t epoch);

  uint64_t dataset_size_;
  uint64_t seed_;
  bool shuffle_;
  uint64_t cursor_ = 0;
  uint64_t cached_epoch_ = UINT64_MAX;
  std::vector<uint64_t> cached_order_;
};

// A 64-bit mix of (seed, a, b): decorrelated seeds for per-epoch orders and
// per-group sampling (SplitMix64 finalizer). Same inputs, same output, everywhere.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

}  // namespace deltarl
