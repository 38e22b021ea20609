// Rollout samples and their redistribution across learner ranks. Each rank
// generates its own shard of the step's prompt groups; exchange_samples() then
// gives every rank the whole step's samples and this rank's share of them,
// balanced by tokens (prompt + response), so no rank waits on a rank with the
// long responses. A group may end up split across ranks: the loss weights and
// advantages are group-global anyway (Note [Group-global weights]).
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/communicator.h"

namespace deltarl {

struct RolloutSample {
  int64_t group = 0;                   // the step's group index, 0 .. groups-1
  int32_t sample_index = 0;            // within its group
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> response_ids;
  std::vector<float> rollout_log_probs;  // the worker's, one per response token
  double reward = 0;
  bool correct = false;                // the verifier's outcome was "correct"
  bool truncated = false;              // stopped by max_new_tokens
  int64_t policy_version = 0;          // the weights that generated it

  int64_t tokens() const { return static_cast<int64_t>(prompt_ids.size() + response_ids.size()); }
};

// Which rank trains each sample of `samples` (given in canonical order, by
// group then sample index): longest first, each to the least-loaded rank (ties
// to the lowest rank). Deterministic; the same on every rank.
std::vector<int> assign_samples_to_ranks(const std::vector<RolloutSample>& samples, int world_size);

struct ExchangedSamples {
  std::vector<RolloutSample> all;   // every rank's samples, canonical order
  std::vector<RolloutSample> mine;  // this rank's share, canonical order
};

// Collective over `host` (a CPU communicator): all ranks call it once per step
// with their own samples (any order). Two all-gathers: sizes, then the packed samples.
ExchangedSamples exchange_samples(Communicator& host, const std::vector<RolloutSample>& local);

}  // namespace deltarl
