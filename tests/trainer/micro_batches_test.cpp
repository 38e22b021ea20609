// Micro-batches by count keep the order; by token budget they sort by length,
// stay within the budget counted in padded tokens, cover every sample once,
// and refuse a sample longer than the budget by naming it.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/input_error.h"
#include "trainer/algorithm/micro_batches.h"

namespace deltarl {
namespace {

RolloutSample sample_of(int64_t group, int32_t index, size_t prompt_tokens, size_t response_tokens) {
  RolloutSample sample;
  sample.group = group;
  sample.sample_index = index;
  sample.prompt_ids.assign(prompt_tokens, 1);
  sample.response_ids.assign(response_tokens, 2);
  sample.rollout_log_probs.assign(response_tokens, -1.0f);
  return sample;
}

std::vector<RolloutSample*> pointers_to(std::vector<RolloutSample>& samples) {
  std::vector<RolloutSample*> pointers;
  for (auto& sample : samples) pointers.push_back(&sample);
  return pointers;
}

TEST(MicroBatches, ByCountKeepOrderAndCoverEverySampleOnce) {
  std::vector<RolloutSample> samples;
  for (int32_t i = 0; i < 5; ++i) samples.push_back(sample_of(0, i, 3, 10));
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
  // A MicroBatching without a token budget is the same split.
  const auto same = micro_batches(pointers_to(samples), MicroBatching{2, 0});
  ASSERT_EQ(same.size(), 3u);
  EXPECT_EQ(same[2].front()->sample_index, 4);
}

TEST(MicroBatches, ByTokenBudgetSortLongestFirstAndFillGreedily) {
  // Tokens (prompt 4 + response): 24, 8, 44, 12, 8, 104.
  std::vector<RolloutSample> samples;
  const std::vector<size_t> responses = {20, 4, 40, 8, 4, 100};
  for (size_t i = 0; i < responses.size(); ++i) {
    samples.push_back(sample_of(static_cast<int64_t>(i / 2), static_cast<int32_t>(i % 2), 4, responses[i]));
  }
  const auto batches = micro_batches(pointers_to(samples), MicroBatching{/*size=*/1, /*token_budget=*/110});
  // 104 alone (2 × 104 > 110); 44 + 24 (2 × 44 = 88; 3 × 44 > 110); 12 + 8 + 8 (3 × 12 = 36).
  std::vector<std::vector<int64_t>> lengths;
  size_t covered = 0;
  for (const auto& batch : batches) {
    int64_t longest = 0;
    std::vector<int64_t>& row = lengths.emplace_back();
    for (const RolloutSample* s : batch) {
      row.push_back(s->tokens());
      longest = std::max(longest, s->tokens());
    }
    EXPECT_LE(static_cast<int64_t>(batch.size()) * longest, 110);
    covered += batch.size();
  }
  EXPECT_EQ(covered, samples.size());
  EXPECT_EQ(lengths, (std::vector<std::vector<int64_t>>{{104}, {44, 24}, {12, 8, 8}}));
  // Ties keep the given order: the two 8-token samples are (group 0, index 1) then (group 2, index 0).
  EXPECT_EQ(batches[2][1]->group, 0);
  EXPECT_EQ(batches[2][2]->group, 2);
  // The budget wins over the count: size 1 was ignored above.
}

TEST(MicroBatches, ASampleLongerThanTheBudgetIsNamed) {
  std::vector<RolloutSample> samples = {sample_of(3, 1, 10, 20), sample_of(7, 5, 10, 200)};
  try {
    micro_batches(pointers_to(samples), MicroBatching{8, 100});
    FAIL() << "a 210-token sample passed a 100-token budget";
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("sample 5 of group 7"), std::string::npos) << message;
    EXPECT_NE(message.find("210 tokens"), std::string::npos) << message;
    EXPECT_NE(message.find("train.micro_batch_tokens ≥ 210"), std::string::npos) << message;
  }
}

TEST(MicroBatches, RefusesBadSettingsByKey) {
  auto message_of = [](MicroBatching batching) {
    try {
      batching.validate();
    } catch (const InputError& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  EXPECT_NE(message_of({0, 0}).find("train.micro_batch_size"), std::string::npos);
  EXPECT_NE(message_of({8, -1}).find("train.micro_batch_tokens"), std::string::npos);
  EXPECT_EQ(message_of({8, 4096}), "");
}

}  // namespace
}  // namespace deltarl
