// Rollout samples and their redistribution across learner ranks. Each rank
// generates its own shard of the step's prompt groups; exchange_samples() then
// gives every rank the whole step's samples and this rank's share of them,
// balanced by tokens (prompt + response), so no rank waits on a rank with the
// long responses. A group may end up split across ranks: the loss weights and
// advantages are group-global anyway (Note [Group-global weights]).
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/algorithm/rollout_sample.h"
#include "trainer/comm/communicator.h"

namespace deltarl {

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
