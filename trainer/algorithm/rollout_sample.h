// RolloutSample: one generated response as the learners train on it, with the
// prompt it answers, the worker's per-token log-probs, its reward and the
// policy version that generated it. Rollout workers produce them (through the
// rollout client), the learners exchange them across ranks, and the policy
// update turns them into the loss.
#pragma once

#include <cstdint>
#include <vector>

namespace deltarl {

struct RolloutSample {
  int64_t group = 0;                   // the step's group index, 0 .. groups-1
  int32_t sample_index = 0;            // within its group
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> response_ids;
  std::vector<float> rollout_log_probs;  // the worker's, one per response token
  // π_old: the learner's log-probs before the step's first update, one per
  // response token (PolicyUpdater::compute_old_log_probs). Empty when the step
  // makes a single on-policy update, whose π_old is the update's own forward.
  // Learner-side only: the sample exchange does not carry it.
  std::vector<float> old_log_probs;
  double reward = 0;
  bool correct = false;                // the verifier's outcome was "correct"
  bool truncated = false;              // stopped by max_new_tokens
  int64_t policy_version = 0;          // the weights that generated it

  int64_t tokens() const { return static_cast<int64_t>(prompt_ids.size() + response_ids.size()); }
};

}  // namespace deltarl
