#include "core/model/left_padded_batch.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace deltarl {
namespace {

TEST(LeftPaddedBatch, PromptsEndAtOneColumnWithTheirPositionsAndRoomInTheMask) {
  const LeftPaddedBatch batch = left_pad({{7, 8, 9}, {5}, {1, 2}}, /*mask_room=*/2);
  EXPECT_EQ(batch.longest, 3);
  EXPECT_TRUE(torch::equal(batch.ids, torch::tensor({7, 8, 9, 0, 0, 5, 0, 1, 2}, torch::kInt64).view({3, 3})));
  EXPECT_TRUE(torch::equal(batch.mask, torch::tensor({1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0}, torch::kInt64)
                                           .view({3, 5})));
  EXPECT_TRUE(torch::equal(batch.prompt_mask(), batch.mask.narrow(1, 0, 3)));
  EXPECT_TRUE(torch::equal(batch.positions, torch::tensor({0, 1, 2, 0, 0, 0, 0, 0, 1}, torch::kInt64).view({3, 3})));
}

TEST(LeftPaddedBatch, NoPromptsOrAnEmptyOneIsAnError) {
  EXPECT_THROW(left_pad({}), c10::Error);
  EXPECT_THROW(left_pad({{1}, {}}), c10::Error);
  EXPECT_THROW(left_pad({{1}}, -1), c10::Error);
}

}  // namespace
}  // namespace deltarl
