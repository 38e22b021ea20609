// StepRollouts: the rollout phase of one training step on one rank. The step's
// prompts are drawn from the PromptSampler (the same on every rank); each rank
// generates the groups at positions p ≡ rank (mod world) through its
// RolloutClient, each group with its own seed mix_seed(seed, step, round, p),
// so a group's samples do not depend on the number of ranks or workers.
// With DAPO's dynamic sampling on, groups whose rewards are all equal are
// dropped and more prompts are drawn, round after round, until the step has
// prompts_per_step groups (or max_refill_rounds is reached).
//
//   StepRollouts rollouts(client, dataset, sampling_options);
//   auto round0 = rollouts.draw(sampler, step, 0, prompts_per_step);
//   auto local = rollouts.generate(round0, rank, world, version);     // no collectives: may run async
//   StepBatch batch = rollouts.finish_step(sampler, round0, status, std::move(local), host, version);  // collective
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "trainer/comm/communicator.h"
#include "trainer/prompts/prompt_dataset.h"
#include "trainer/prompts/prompt_sampler.h"
#include "trainer/rollout/rollout_client.h"
#include "trainer/rollout/step_batch.h"
#include "trainer/algorithm/rollout_sample.h"

namespace deltarl {

struct StepRolloutOptions {
  int64_t prompts_per_step = 16;
  int32_t samples_per_prompt = 8;
  v1::SamplingParams sampling;       // temperature, top_p, max_new_tokens (the seed is per group)
  uint64_t seed = 1;
  bool filter_equal_rewards = false;
  int64_t max_refill_rounds = 8;
};

// One round's prompts: dataset indices in position order, identical on all ranks.
struct RolloutRound {
  int64_t step = 0;
  int64_t round = 0;
  std::vector<uint64_t> dataset_indices;
};

class StepRollouts {
 public:
  StepRollouts(RolloutClient& client, const PromptDataset& dataset, StepRolloutOptions options);

  RolloutRound draw(PromptSampler& sampler, int64_t step, int64_t round, int64_t count) const;

  // Generates this rank's groups of `round` with policy version ≥ min_version.
  // Not collective: safe to run on a background thread. Samples carry their
  // round position as `group`. Fails with the client's status.
  Status generate(const RolloutRound& round, int rank, int world_size, uint64_t min_version,
                  std::vector<RolloutSample>* samples) const;

  // Filters (when enabled), refills, and renumbers; `first_status` and
  // `first_samples` are this rank's round-0 result. Throws RolloutsFailed
  // when generation failed on any rank (all ranks throw together).
  // Collective over `host`: all ranks call it once per step.
  StepBatch finish_step(PromptSampler& sampler, const RolloutRound& first_round, Status first_status,
                        std::vector<RolloutSample> first_samples, Communicator& host, uint64_t min_version) const;

 private:
  RolloutClient& client_;
  const PromptDataset& dataset_;
  StepRolloutOptions options_;
};

}  // namespace deltarl
