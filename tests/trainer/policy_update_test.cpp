// One PolicyUpdater step moves the policy the right way: the log-probability of
// a rewarded response rises, that of an unrewarded one in the same group falls,
// and groups whose rewards are all equal contribute nothing.
#include "trainer/algorithm/policy_update.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <torch/torch.h>

#include "core/input_error.h"
#include "tests/support/sequence_log_prob.h"
#include "tests/support/single_rank_update.h"
#include "trainer/comm/single_process_communicator.h"

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
  ModelConfig config = ModelConfig::preset("tiny", 64);
  CausalLM model(config);
  AdamW optimizer(model->named_parameters(), AdamWOptions{0.9, 0.999, 1e-8, 0.0});
  PolicyUpdateOptions options;
  options.aggregation.max_response_length = 8;
  options.micro_batching.size = 2;
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

// The π_old pass takes the training forward's numerical path: on the same
// micro-batch at the same weights, the update's log-probs equal π_old bit for
// bit (ratio exactly 1, PPO-KL exactly 0); after one update they move.
TEST(PolicyUpdate, OldLogProbPassMatchesTheUpdatesForwardExactly) {
  torch::manual_seed(3);
  CausalLM model(ModelConfig::preset("tiny", 64));
  AdamW optimizer(model->named_parameters(), AdamWOptions{0.9, 0.999, 1e-8, 0.0});
  PolicyUpdateOptions options;
  options.aggregation.max_response_length = 8;
  options.groups_per_mini_batch = 1;  // two mini-batches: the step needs π_old
  options.micro_batching.size = 3;
  PolicyUpdater updater(model, nullptr, optimizer, options);
  std::vector<RolloutSample> samples = {sample(0, 0, {10, 11, 12, 13}, 1.0), sample(0, 1, {20, 21}, 0.0),
                                        sample(1, 0, {40, 41, 42}, 1.0), sample(1, 1, {50}, 0.0)};
  ASSERT_TRUE(updater.needs_old_log_probs(/*num_groups=*/2));
  std::vector<RolloutSample*> all;
  for (auto& s : samples) all.push_back(&s);
  updater.compute_old_log_probs(all);
  for (const auto& s : samples) ASSERT_EQ(s.old_log_probs.size(), s.response_ids.size());

  SingleProcessCommunicator communicator;
  StepStatistics statistics = StepStatistics::of_samples(samples, /*num_groups=*/2, /*alpha=*/1.0);
  statistics.all_reduce(communicator);
  const LossWeightTable weights(options.aggregation, statistics);
  const AdvantageTable advantages(options.advantage, statistics);
  const std::vector<const RolloutSample*> batch = {&samples[0], &samples[1], &samples[2], &samples[3]};
  PolicyUpdateResult first;
  updater.start();
  updater.accumulate(batch, weights, advantages, &first);
  EXPECT_EQ(first.ppo_kl_sum, 0.0);
  EXPECT_EQ(first.ratio_max, 1.0);
  EXPECT_EQ(first.clipped_tokens, 0);
  updater.clip_and_step(updater.flat_gradients().square_sum(), /*learning_rate=*/1e-2, &first);
  PolicyUpdateResult second;
  updater.start();
  updater.accumulate(batch, weights, advantages, &second);
  EXPECT_NE(second.ppo_kl_sum, 0.0) << "the second update must see π ≠ π_old";
  EXPECT_NE(second.ratio_max, 1.0);
}

// The memory mechanisms of the update (the embedding's sparse gradient, the
// output weight's gradient written into the flat buffer) change where
// gradients are summed, never what they are: on a tied model the update's
// flat gradient equals the one with a dense embedding gradient and whole
// logits, in fp32 (1e-6) and bf16 (bf16's rounding apart).
TEST(PolicyUpdate, TheMemoryMechanismsGiveThePlainGradient) {
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (int64_t chunk : {int64_t{0}, int64_t{3}}) {
      torch::manual_seed(3);
      CausalLM model(ModelConfig::preset("tiny", 64));  // tied embedding
      model->to(dtype);
      AdamW optimizer(model->named_parameters(), AdamWOptions{0.9, 0.999, 1e-8, 0.0});
      PolicyUpdateOptions options;
      options.aggregation.max_response_length = 8;
      options.micro_batching.size = 2;
      options.logits_chunk_tokens = chunk;
      PolicyUpdater updater(model, nullptr, optimizer, options);
      ASSERT_TRUE(model->model->sparse_embedding_gradient);
      const std::vector<RolloutSample> samples = {sample(0, 0, {10, 11, 12, 13}, 1.0), sample(0, 1, {20, 21}, 0.0),
                                                  sample(0, 2, {30, 31, 32}, 0.0)};
      SingleProcessCommunicator communicator;
      StepStatistics statistics = StepStatistics::of_samples(samples, /*num_groups=*/1, /*alpha=*/1.0);
      statistics.all_reduce(communicator);
      const LossWeightTable weights(options.aggregation, statistics);
      const AdvantageTable advantages(options.advantage, statistics);
      const std::vector<const RolloutSample*> batch = {&samples[0], &samples[1], &samples[2]};
      PolicyUpdateResult totals;
      updater.start();
      updater.accumulate(batch, weights, advantages, &totals);
      const std::vector<torch::Tensor> mechanisms = updater.flat_gradients().per_parameter();

      // The same loss without the two mechanisms: a dense embedding gradient
      // and the whole logits, whose weight gradient autograd sums with the
      // embedding's before it reaches the buffer.
      PolicyUpdateOptions plain_options = options;
      plain_options.logits_chunk_tokens = 0;
      AdamW plain_optimizer(model->named_parameters(), AdamWOptions{0.9, 0.999, 1e-8, 0.0});
      PolicyUpdater plain(model, nullptr, plain_optimizer, plain_options);
      model->model->sparse_embedding_gradient = false;  // the constructor set it
      plain.start();
      PolicyUpdateResult plain_totals;
      plain.accumulate(batch, weights, advantages, &plain_totals);
      const std::vector<torch::Tensor> reference = plain.flat_gradients().per_parameter();
      double largest = 0, scale = 0;
      for (size_t p = 0; p < reference.size(); ++p) {
        largest = std::max(largest, (mechanisms[p] - reference[p]).abs().max().item<double>());
        scale = std::max(scale, reference[p].abs().max().item<double>());
      }
      ASSERT_GT(scale, 0);
      EXPECT_LE(largest / scale, dtype == torch::kFloat32 ? 1e-6 : 2e-2) << dtype << ", chunk " << chunk;
    }
  }
}

TEST(PolicyUpdate, BadOptionsAreNamed) {
  auto message_of = [](PolicyUpdateOptions options) {
    try {
      options.validate();
    } catch (const InputError& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  PolicyUpdateOptions options;
  options.epochs = 0;
  EXPECT_NE(message_of(options).find("algorithm.ppo_epochs must be ≥ 1"), std::string::npos);
  options = {};
  options.loss.clip_ratio_c = 1.0;
  EXPECT_NE(message_of(options).find("algorithm.clip_ratio_c must be > 1"), std::string::npos);
  options = {};
  options.rollout_correction.cap = 0.5;
  EXPECT_NE(message_of(options).find("algorithm.rollout_correction_cap"), std::string::npos);
  options = {};
  options.rollout_correction.mode = RolloutCorrection::kSeqTis;
  options.old_log_probs_from_rollout = true;
  const std::string both = message_of(options);
  EXPECT_NE(both.find("algorithm.rollout_correction"), std::string::npos) << both;
  EXPECT_NE(both.find("algorithm.old_log_probs"), std::string::npos) << both;
  EXPECT_EQ(message_of(PolicyUpdateOptions{}), "");
}

}  // namespace
}  // namespace deltarl
