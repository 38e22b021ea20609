// mixed_reward_batch(): a fixed rollout batch for the multi-rank update tests:
// `groups` prompt groups of `group_size` samples, prompts of 2..5 tokens and
// responses of 1..max_length tokens drawn from `vocab`, rewards 0 and 1 mixed
// in every group (sample 0 earns 1, sample 1 earns 0, the rest a coin), and
// the workers' log-probs off the learner's (−3..−5), so a rollout correction
// has something to correct. The same seed gives the same batch on every rank.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "trainer/algorithm/rollout_sample.h"

namespace deltarl::testing_support {

inline std::vector<RolloutSample> mixed_reward_batch(uint64_t seed, int64_t groups, int64_t group_size,
                                                     int64_t vocab, int64_t max_length) {
  std::mt19937_64 random(seed);
  auto uniform = [&](int64_t low, int64_t high) { return low + static_cast<int64_t>(random() % (high - low + 1)); };
  std::vector<RolloutSample> batch;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t i = 0; i < group_size; ++i) {
      RolloutSample sample;
      sample.group = g;
      sample.sample_index = static_cast<int32_t>(i);
      sample.prompt_ids.resize(static_cast<size_t>(uniform(2, 5)));
      for (auto& id : sample.prompt_ids) id = static_cast<int32_t>(uniform(0, vocab - 1));
      sample.response_ids.resize(static_cast<size_t>(uniform(1, max_length)));
      for (auto& id : sample.response_ids) id = static_cast<int32_t>(uniform(0, vocab - 1));
      for (size_t t = 0; t < sample.response_ids.size(); ++t) {
        sample.rollout_log_probs.push_back(-static_cast<float>(uniform(300, 500)) / 100.0f);
      }
      sample.reward = (i == 0) ? 1.0 : (i == 1 ? 0.0 : static_cast<double>(uniform(0, 1)));
      batch.push_back(sample);
    }
  }
  return batch;
}

}  // namespace deltarl::testing_support
