// PPO mini-batches: how one step's prompt groups split into the updates of
// each epoch (verl's ppo_mini_batch_size, counted in prompt groups).
//
// A mini-batch is a set of whole groups, so its loss weights and advantages
// come from the step's per-group statistics alone (Note [Mini-batch weights] in
// trainer/algorithm/loss_aggregation.h). Which groups form it is a seeded
// shuffle of (seed, step, epoch) over the group indices: identical on every
// rank and independent of the number of ranks.
//
//   for (int64_t epoch = 0; epoch < epochs; ++epoch)
//     for (const auto& groups : ppo_mini_batch_groups(num_groups, 32, seed, step, epoch))
//       update on samples_of_groups(my_samples, groups) ...
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/algorithm/rollout_sample.h"

namespace deltarl {

// The groups of each mini-batch of one epoch, each list ascending. With
// groups_per_mini_batch ≤ 0 or ≥ num_groups: one mini-batch of every group, in
// order (no shuffle: a single update per epoch sees the step as it is).
// Otherwise a permutation of 0..num_groups-1 drawn from (seed, step, epoch) cut
// into consecutive runs of groups_per_mini_batch; when num_groups is not a
// multiple (dynamic sampling left the step fewer groups), the last mini-batch
// is smaller. Never empty; every group in exactly one mini-batch.
std::vector<std::vector<int64_t>> ppo_mini_batch_groups(int64_t num_groups, int64_t groups_per_mini_batch,
                                                        uint64_t seed, int64_t step, int64_t epoch);

// The samples whose group is in `groups` (ascending), in their order in `samples`.
std::vector<RolloutSample*> samples_of_groups(std::vector<RolloutSample>& samples, const std::vector<int64_t>& groups);

}  // namespace deltarl
