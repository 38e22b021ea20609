#include "trainer/algorithm/advantage.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/input_error.h"
#include "trainer/comm/single_process_communicator.h"

namespace deltarl {
namespace {

TEST(Advantage, GrpoAndDrGrpoFromGroupStatistics) {
  SingleProcessCommunicator communicator;
  StepStatistics stats(3, 1.0);
  const double rewards[] = {1.0, 0.0, 0.0, 1.0, 1.0};  // group 0
  for (double r : rewards) stats.add_sample(0, 10, r);
  stats.add_sample(1, 3, 0.5);                          // singleton group
  stats.add_sample(2, 4, 1.0);
  stats.add_sample(2, 8, 1.0);                          // all equal
  stats.all_reduce(communicator);

  const double mean = 0.6;
  const double std = std::sqrt((3 * 0.16 + 2 * 0.36) / 4.0);  // unbiased, as torch.std
  EXPECT_NEAR(group_reward_mean(stats, 0), mean, 1e-15);
  EXPECT_NEAR(group_reward_std(stats, 0), std, 1e-15);
  EXPECT_NEAR(sample_advantage(AdvantageEstimator::kGrpo, stats, 0, 1.0), 0.4 / (std + 1e-6), 1e-12);
  EXPECT_NEAR(sample_advantage(AdvantageEstimator::kGrpo, stats, 0, 0.0), -0.6 / (std + 1e-6), 1e-12);
  EXPECT_NEAR(sample_advantage(AdvantageEstimator::kDrGrpo, stats, 0, 0.0), -0.6, 1e-15);
  EXPECT_EQ(sample_advantage(AdvantageEstimator::kGrpo, stats, 1, 0.5), 0.0);
  EXPECT_EQ(sample_advantage(AdvantageEstimator::kGrpo, stats, 2, 1.0), 0.0);
  for (auto estimator : {AdvantageEstimator::kGrpo, AdvantageEstimator::kDrGrpo}) {
    const AdvantageTable table(estimator, stats);
    for (int64_t g = 0; g < 3; ++g) {
      for (double r : {0.0, 0.5, 1.0}) EXPECT_EQ(table(g, r), sample_advantage(estimator, stats, g, r));
    }
    EXPECT_THROW(table(3, 1.0), InputError);
  }
  EXPECT_EQ(parse_advantage_estimator("dr-grpo"), AdvantageEstimator::kDrGrpo);
  EXPECT_THROW(parse_advantage_estimator("ppo"), InputError);
}

}  // namespace
}  // namespace deltarl
