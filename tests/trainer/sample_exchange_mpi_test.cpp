// exchange_samples() under real `mpirun -np 2/4`: every rank ends with every
// sample intact (ids, log-prob bits, rewards), and the shares partition them,
// balanced by tokens, identically decided on every rank.
#include "trainer/comm/sample_exchange.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include <torch/torch.h>

#include "trainer/comm/mpi_communicator.h"

namespace deltarl {
namespace {

// Sample k of the step, made the same way on every rank.
RolloutSample make_sample(int64_t k) {
  RolloutSample sample;
  sample.group = k / 3;
  sample.sample_index = static_cast<int32_t>(k % 3);
  sample.prompt_ids.assign(2 + k % 4, static_cast<int32_t>(k));
  for (int64_t t = 0; t < 1 + (k * 7) % 11; ++t) {
    sample.response_ids.push_back(static_cast<int32_t>(100 + t));
    sample.rollout_log_probs.push_back(-0.1f * static_cast<float>(t) - 1e-7f * static_cast<float>(k));
  }
  sample.reward = k % 2 ? 1.0 / 3.0 : -0.0;
  sample.correct = k % 2;
  sample.truncated = k % 5 == 0;
  sample.policy_version = 40 + k;
  return sample;
}

bool same(const RolloutSample& a, const RolloutSample& b) {
  return a.group == b.group && a.sample_index == b.sample_index && a.prompt_ids == b.prompt_ids &&
         a.response_ids == b.response_ids && a.rollout_log_probs == b.rollout_log_probs &&
         std::signbit(a.reward) == std::signbit(b.reward) && a.reward == b.reward && a.correct == b.correct &&
         a.truncated == b.truncated && a.policy_version == b.policy_version;
}

TEST(SampleExchange, EveryRankGetsEverySampleAndAShare) {
  MpiCommunicator host;
  const int world = host.world_size(), rank = host.rank();
  constexpr int64_t kSamples = 30;
  // Rank r generated samples k ≡ r (mod world), in reverse order; the last rank none at all.
  std::vector<RolloutSample> local;
  for (int64_t k = kSamples - 1; k >= 0; --k) {
    if (world > 1 && rank == world - 1) break;
    if (k % std::max(1, world - 1) == rank % std::max(1, world - 1) || world == 1) local.push_back(make_sample(k));
  }
  const ExchangedSamples exchanged = exchange_samples(host, local);
  ASSERT_EQ(exchanged.all.size(), static_cast<size_t>(kSamples));
  for (int64_t k = 0; k < kSamples; ++k) EXPECT_TRUE(same(exchanged.all[k], make_sample(k))) << k;

  // The shares of all ranks partition the step; each is within one sample of the mean load.
  torch::Tensor mine = torch::zeros({kSamples}, torch::kInt64);
  int64_t my_tokens = 0;
  for (const auto& sample : exchanged.mine) {
    mine[sample.group * 3 + sample.sample_index] += 1;
    my_tokens += sample.tokens();
  }
  torch::Tensor counts = mine.clone();
  host.all_reduce_sum(counts);
  EXPECT_TRUE(torch::equal(counts, torch::ones({kSamples}, torch::kInt64)));
  const torch::Tensor loads = host.all_gather(torch::tensor({my_tokens}, torch::kInt64)).reshape({-1});
  int64_t longest = 0;
  for (const auto& sample : exchanged.all) longest = std::max(longest, sample.tokens());
  EXPECT_LE((loads.max() - loads.min()).item<int64_t>(), longest);
}

TEST(SampleExchange, AssignmentIsLongestFirstToLeastLoaded) {
  std::vector<RolloutSample> samples(4);
  const int lengths[] = {5, 9, 2, 4};
  for (int i = 0; i < 4; ++i) samples[i].response_ids.assign(lengths[i], 1), samples[i].sample_index = i;
  // 9 → rank 0; 5 → rank 1; 4 → rank 1 (load 5 < 9); 2 → rank 0 (loads 9 and 9 tie: the lower rank)
  EXPECT_EQ(assign_samples_to_ranks(samples, 2), (std::vector<int>{1, 0, 0, 1}));
}

}  // namespace
}  // namespace deltarl
