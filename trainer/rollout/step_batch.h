// StepBatch: a training step's samples on one rank, as the rollout phase hands
// them to the learner, with what the step's metrics need to know about how they
// were drawn; and RolloutsFailed, the rollout phase's agreed failure.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "trainer/algorithm/rollout_sample.h"

namespace deltarl {

// Thrown by the rollout phase (StepRollouts::finish_step, RolloutSource::collect)
// on every rank together when generation failed on any rank, so that all ranks
// may react with collectives of their own.
struct RolloutsFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The step's samples on this rank before redistribution, groups renumbered
// 0 .. groups-1 in (round, position) order.
struct StepBatch {
  int64_t groups = 0;
  std::vector<RolloutSample> local_samples;
  int64_t rounds = 1;
  int64_t filtered_groups = 0;       // dropped for equal rewards, over all rounds
  // Round 0 over all ranks, before any filtering: the policy's real success rate
  // (with dynamic sampling on, the kept groups' rewards are biased towards 1/2).
  double unfiltered_reward_mean = 0;
  double unfiltered_accuracy = 0;
  // The whole rollout phase: round 0 (or waiting for its prefetch) and refills.
  double generation_seconds = 0;
  // The prompt sampler's position after this step's draws (not a prefetched
  // next round's): what a checkpoint after this step stores.
  uint64_t prompt_cursor = 0;
};

}  // namespace deltarl
