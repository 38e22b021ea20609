// PPO mini-batches: whole groups, every group once per epoch, the same on every
// rank and run, reshuffled per step and epoch, the last one smaller when
// dynamic sampling leaves the step fewer groups.
#include "trainer/algorithm/ppo_mini_batches.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace deltarl {
namespace {

std::vector<int64_t> flattened(const std::vector<std::vector<int64_t>>& mini_batches) {
  std::vector<int64_t> groups;
  for (const auto& mini_batch : mini_batches) groups.insert(groups.end(), mini_batch.begin(), mini_batch.end());
  return groups;
}

TEST(PpoMiniBatches, EveryGroupOnceInAscendingMiniBatchesOfTheGivenSize) {
  const auto mini_batches = ppo_mini_batch_groups(12, 4, /*seed=*/1, /*step=*/3, /*epoch=*/0);
  ASSERT_EQ(mini_batches.size(), 3u);
  for (const auto& mini_batch : mini_batches) {
    EXPECT_EQ(mini_batch.size(), 4u);
    EXPECT_TRUE(std::is_sorted(mini_batch.begin(), mini_batch.end()));
  }
  std::vector<int64_t> all = flattened(mini_batches);
  std::sort(all.begin(), all.end());
  for (int64_t g = 0; g < 12; ++g) EXPECT_EQ(all[static_cast<size_t>(g)], g);
}

TEST(PpoMiniBatches, DeterministicAndReshuffledPerStepAndEpoch) {
  EXPECT_EQ(ppo_mini_batch_groups(16, 4, 1, 2, 0), ppo_mini_batch_groups(16, 4, 1, 2, 0));
  EXPECT_NE(ppo_mini_batch_groups(16, 4, 1, 2, 0), ppo_mini_batch_groups(16, 4, 1, 2, 1));
  EXPECT_NE(ppo_mini_batch_groups(16, 4, 1, 2, 0), ppo_mini_batch_groups(16, 4, 1, 3, 0));
  EXPECT_NE(ppo_mini_batch_groups(16, 4, 1, 2, 0), ppo_mini_batch_groups(16, 4, 2, 2, 0));
  // Pinned: mt19937_64's sequence is specified by the standard, so every
  // platform and rank draws these (a change here changes every run's updates).
  EXPECT_EQ(ppo_mini_batch_groups(8, 4, 1, 2, 0), (std::vector<std::vector<int64_t>>{{0, 3, 5, 6}, {1, 2, 4, 7}}));
}

TEST(PpoMiniBatches, TheLastMiniBatchIsSmallerWhenTheStepHasFewerGroups) {
  // prompts_per_step 8, mini-batches of 4, dynamic sampling kept 6 groups.
  const auto mini_batches = ppo_mini_batch_groups(6, 4, 1, 5, 0);
  ASSERT_EQ(mini_batches.size(), 2u);
  EXPECT_EQ(mini_batches[0].size(), 4u);
  EXPECT_EQ(mini_batches[1].size(), 2u);
  const std::vector<int64_t> all = flattened(mini_batches);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 6u);
}

TEST(PpoMiniBatches, ZeroOrAtLeastTheGroupsIsOneMiniBatchInOrder) {
  const std::vector<std::vector<int64_t>> one = {{0, 1, 2, 3, 4}};
  EXPECT_EQ(ppo_mini_batch_groups(5, 0, 1, 1, 0), one);
  EXPECT_EQ(ppo_mini_batch_groups(5, 5, 9, 4, 1), one);
  EXPECT_EQ(ppo_mini_batch_groups(5, 8, 9, 4, 1), one);
}

TEST(PpoMiniBatches, SamplesOfGroupsKeepTheirOrder) {
  std::vector<RolloutSample> samples(6);
  const int64_t groups[] = {2, 0, 1, 2, 0, 3};
  for (size_t i = 0; i < samples.size(); ++i) {
    samples[i].group = groups[i];
    samples[i].sample_index = static_cast<int32_t>(i);
  }
  const auto selected = samples_of_groups(samples, {0, 2});
  ASSERT_EQ(selected.size(), 4u);
  EXPECT_EQ(selected[0]->sample_index, 0);
  EXPECT_EQ(selected[1]->sample_index, 1);
  EXPECT_EQ(selected[2]->sample_index, 3);
  EXPECT_EQ(selected[3]->sample_index, 4);
}

}  // namespace
}  // namespace deltarl
