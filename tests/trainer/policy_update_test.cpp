// One PolicyUpdater step moves the policy the right way: the log-probability of
// a rewarded response rises, that of an unrewarded one in the same group falls,
// and groups whose rewards are all equal contribute nothing.
#include "trainer/algorithm/policy_update.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "tests/support/sequence_log_prob.h"
#include "tests/support/single_rank_update.h"

namespace deltarl {
namespace {

using testing_support::sequence_log_prob;

RolloutSample sample(int64_t group, int32_t index, std::vector<int32_t> response, double reward) {
  RolloutSample s;
  s.group = group;
  s.sample_index = index;
  s.prompt_ids = {5, 6, 7};
  s.response_ids = std::move(response);
  s.rollout_log_probs.assign(s.response_ids.size(), -1.0f);
  s.reward = reward;
  return s;
}

TEST(PolicyUpdate, RaisesRewardedAndLowersUnrewardedResponses) {
  torch::manual_seed(3);
  Qwen2Config config = Qwen2Config::preset("tiny", 64);
  Qwen2ForCausalLM model(config);
  AdamW optimizer(model->named_parameters(), AdamWOptions{0.9, 0.999, 1e-8, 0.0});
  PolicyUpdateOptions options;
  options.aggregation.max_response_length = 8;
  options.micro_batch_size = 2;
  PolicyUpdater updater(model, nullptr, optimizer, options);
  const std::vector<RolloutSample> samples = {
      sample(0, 0, {10, 11, 12, 13}, 1.0), sample(0, 1, {20, 21}, 0.0), sample(0, 2, {30, 31, 32}, 0.0),
      sample(1, 0, {40, 41}, 0.0), sample(1, 1, {50, 51, 52}, 0.0),  // all equal: no signal
  };
  std::vector<double> before;
  for (const auto& s : samples) before.push_back(sequence_log_prob(model, s));
  const PolicyUpdateResult result =
      testing_support::single_rank_update(updater, samples, /*groups=*/2, /*learning_rate=*/1e-3);
  EXPECT_GT(result.grad_norm, 0);
  EXPECT_EQ(result.tokens, 14);
  EXPECT_EQ(result.clipped_tokens, 0);  // on-policy: the ratio is 1
  std::vector<double> after;
  for (const auto& s : samples) after.push_back(sequence_log_prob(model, s));
  EXPECT_GT(after[0], before[0] + 1e-3) << "the rewarded response did not become likelier";
  EXPECT_LT(after[1], before[1] - 1e-4);
  EXPECT_LT(after[2], before[2] - 1e-4);
}

TEST(PolicyUpdate, MicroBatchesKeepOrderAndCoverEverySampleOnce) {
  std::vector<RolloutSample> samples;
  for (int32_t i = 0; i < 5; ++i) samples.push_back(sample(0, i, {10}, 0.0));
  const auto batches = micro_batches(samples, 2);
  ASSERT_EQ(batches.size(), 3u);
  std::vector<int32_t> order;
  for (const auto& batch : batches) {
    EXPECT_LE(batch.size(), 2u);
    for (const RolloutSample* s : batch) order.push_back(s->sample_index);
  }
  EXPECT_EQ(order, std::vector<int32_t>({0, 1, 2, 3, 4}));
  EXPECT_EQ(micro_batches(samples, 8).size(), 1u);
  EXPECT_TRUE(micro_batches(std::vector<RolloutSample>{}, 4).empty());
}

}  // namespace
}  // namespace deltarl
