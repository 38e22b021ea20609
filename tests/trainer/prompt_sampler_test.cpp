#include "trainer/prompts/prompt_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace deltarl {
namespace {

TEST(PromptSampler, EachEpochIsAPermutationAndEpochsDiffer) {
  PromptSampler sampler(10, /*seed=*/3, /*shuffle=*/true);
  const auto first = sampler.draw(10), second = sampler.draw(10);
  EXPECT_EQ(std::set<uint64_t>(first.begin(), first.end()).size(), 10u);
  EXPECT_EQ(std::set<uint64_t>(second.begin(), second.end()).size(), 10u);
  EXPECT_NE(first, second);
  EXPECT_EQ(sampler.epoch(), 2u);
  PromptSampler unshuffled(4, 3, false);
  EXPECT_EQ(unshuffled.draw(6), (std::vector<uint64_t>{0, 1, 2, 3, 0, 1}));
}

TEST(PromptSampler, CursorIsTheWholeState) {
  PromptSampler straight(7, 11, true);
  std::vector<uint64_t> all = straight.draw(9);
  const auto rest = straight.draw(8);
  all.insert(all.end(), rest.begin(), rest.end());
  PromptSampler resumed(7, 11, true);
  resumed.seek(9);  // as from a checkpoint
  EXPECT_EQ(resumed.draw(8), rest);
  PromptSampler other_seed(7, 12, true);
  EXPECT_NE(other_seed.draw(7), std::vector<uint64_t>(all.begin(), all.begin() + 7));
}

TEST(PromptSampler, SeedsAndOrdersArePinned) {
  EXPECT_NE(mix_seed(1, 2, 3), mix_seed(1, 3, 2));
  EXPECT_NE(mix_seed(1, 2, 3), mix_seed(2, 2, 3));
  // Pinned: the same seed gives the same prompts on every platform and
  // release (a change here changes every run's data order).
  PromptSampler sampler(8, /*seed=*/1, /*shuffle=*/true);
  EXPECT_EQ(sampler.draw(8), (std::vector<uint64_t>{5, 2, 1, 4, 0, 3, 7, 6}));
}

}  // namespace
}  // namespace deltarl
