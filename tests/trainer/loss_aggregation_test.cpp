// Closed forms of every aggregation mode on hand-computed cases, the ΔL
// invariants (Σ over a group = 1/(M·#groups), α = 0 is Dr. GRPO, α = 1 is ∝ 1/L),
// and bad input.
#include "trainer/algorithm/loss_aggregation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/input_error.h"
#include "trainer/comm/single_process_communicator.h"

namespace deltarl {
namespace {

struct Sample {
  int64_t group;
  int64_t length;
};

// Two groups: A = {10, 40}, B = {20, 20}. M = 100.
const std::vector<Sample> kSamples = {{0, 10}, {0, 40}, {1, 20}, {1, 20}};

AggregationConfig make_config(AggregationMode mode, double alpha = 1.0,
                              DeltaLScope scope = DeltaLScope::kGroup, double m = 100) {
  AggregationConfig config;
  config.mode = mode;
  config.alpha = alpha;
  config.scope = scope;
  config.max_response_length = m;
  config.validate();
  return config;
}

std::vector<double> weights_of(const AggregationConfig& config, const std::vector<Sample>& samples,
                               int64_t num_groups) {
  SingleProcessCommunicator communicator;
  StepStatistics stats(num_groups, config.alpha);
  for (const auto& s : samples) stats.add_sample(s.group, s.length, /*reward=*/0.0);
  stats.all_reduce(communicator);
  std::vector<double> weights;
  for (const auto& s : samples) weights.push_back(sample_weight(config, stats, s.group, s.length));
  return weights;
}

void expect_weights(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-15 + 1e-13 * std::fabs(expected[i])) << "sample " << i;
  }
}

TEST(LossAggregation, GrpoIsOneOverSamplesTimesLength) {
  expect_weights(weights_of(make_config(AggregationMode::kSeqMeanTokenMean), kSamples, 2),
                 {1.0 / 40, 1.0 / 160, 1.0 / 80, 1.0 / 80});
}

TEST(LossAggregation, DapoIsOneOverBatchTokens) {
  expect_weights(weights_of(make_config(AggregationMode::kTokenMean), kSamples, 2),
                 {1.0 / 90, 1.0 / 90, 1.0 / 90, 1.0 / 90});
}

TEST(LossAggregation, DrGrpoIsOneOverSamplesTimesM) {
  expect_weights(weights_of(make_config(AggregationMode::kSeqMeanTokenSumNorm), kSamples, 2),
                 {1.0 / 400, 1.0 / 400, 1.0 / 400, 1.0 / 400});
}

TEST(LossAggregation, SeqMeanTokenSumIsOneOverSamples) {
  expect_weights(weights_of(make_config(AggregationMode::kSeqMeanTokenSum), kSamples, 2),
                 {0.25, 0.25, 0.25, 0.25});
}

TEST(LossAggregation, DeltaLGroupScopeHandComputed) {
  // α = 1, group A: Σ 1/L = 0.125, so w(10) = 0.1 / (100·2·0.125) = 0.004, w(40) = 0.001.
  // Group B: Σ 1/L = 0.1, w(20) = 0.05 / (200·0.1) = 0.0025.
  expect_weights(weights_of(make_config(AggregationMode::kDeltaL, 1.0), kSamples, 2),
                 {0.004, 0.001, 0.0025, 0.0025});
  // α = 0.5: 1/√40 = (1/√10)/2, so group A splits 2:1 → 1/300 and 1/600.
  expect_weights(weights_of(make_config(AggregationMode::kDeltaL, 0.5), kSamples, 2),
                 {1.0 / 300, 1.0 / 600, 0.0025, 0.0025});
}

TEST(LossAggregation, DeltaLBatchScopeHandComputed) {
  // Σ_S 1/L = 0.1 + 0.025 + 0.05 + 0.05 = 0.225.
  expect_weights(
      weights_of(make_config(AggregationMode::kDeltaL, 1.0, DeltaLScope::kBatch), kSamples, 2),
      {0.1 / 22.5, 0.025 / 22.5, 0.05 / 22.5, 0.05 / 22.5});
}

// A batch with unequal group sizes and a wide length range.
std::vector<Sample> varied_batch() {
  return {{0, 1},   {0, 7},    {0, 300}, {0, 4096}, {1, 13}, {1, 13}, {1, 2},
          {2, 999}, {2, 1000}, {3, 5},   {3, 50},   {3, 500}, {3, 5000}};
}

TEST(LossAggregation, DeltaLGroupSumsToOneOverMTimesGroupsForEveryAlpha) {
  const auto samples = varied_batch();
  for (double alpha : {0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0}) {
    const auto weights = weights_of(make_config(AggregationMode::kDeltaL, alpha), samples, 4);
    std::vector<double> per_group(4, 0.0);
    for (size_t i = 0; i < samples.size(); ++i) per_group[samples[i].group] += weights[i];
    for (int g = 0; g < 4; ++g) {
      EXPECT_NEAR(per_group[g], 1.0 / (100.0 * 4), 1e-15) << "alpha " << alpha << " group " << g;
    }
    // Batch scope: the whole step sums to 1/M.
    const auto batch = weights_of(make_config(AggregationMode::kDeltaL, alpha, DeltaLScope::kBatch),
                                  samples, 4);
    double total = 0;
    for (double w : batch) total += w;
    EXPECT_NEAR(total, 1.0 / 100.0, 1e-15) << "alpha " << alpha;
  }
}

TEST(LossAggregation, DeltaLAlphaZeroIsDrGrpoExactly) {
  // Equal group sizes (as in RLVR: G samples per prompt).
  std::vector<Sample> samples;
  const int64_t lengths[] = {3, 17, 256, 1, 4095, 64, 9, 33, 100, 2, 5, 800};
  for (int i = 0; i < 12; ++i) samples.push_back({i / 4, lengths[i]});
  const auto dr_grpo = weights_of(make_config(AggregationMode::kSeqMeanTokenSumNorm), samples, 3);
  for (auto scope : {DeltaLScope::kGroup, DeltaLScope::kBatch}) {
    const auto delta_l = weights_of(make_config(AggregationMode::kDeltaL, 0.0, scope), samples, 3);
    for (size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(delta_l[i], dr_grpo[i]) << i;
  }
}

TEST(LossAggregation, DeltaLAlphaOneIsProportionalToInverseLengthWithinAGroup) {
  const auto samples = varied_batch();
  const auto weights = weights_of(make_config(AggregationMode::kDeltaL, 1.0), samples, 4);
  for (size_t i = 0; i < samples.size(); ++i) {
    for (size_t j = 0; j < samples.size(); ++j) {
      if (samples[i].group != samples[j].group) continue;
      EXPECT_NEAR(weights[i] * samples[i].length, weights[j] * samples[j].length,
                  1e-14 * weights[j] * samples[j].length);  // exp(-ln L) vs 1/L: ~1 ulp
    }
  }
}

TEST(LossAggregation, VectorisedWeightsMatchScalar) {
  const auto samples = varied_batch();
  const auto config = make_config(AggregationMode::kDeltaL, 0.75);
  SingleProcessCommunicator communicator;
  StepStatistics stats(4, 0.75);
  std::vector<int64_t> groups, lengths;
  for (const auto& s : samples) {
    stats.add_sample(s.group, s.length, 0.0);
    groups.push_back(s.group);
    lengths.push_back(s.length);
  }
  stats.all_reduce(communicator);
  const torch::Tensor weights = sample_weights(config, stats, torch::tensor(groups), torch::tensor(lengths));
  ASSERT_EQ(weights.scalar_type(), torch::kFloat64);
  for (size_t i = 0; i < samples.size(); ++i) {
    EXPECT_EQ(weights[i].item<double>(), sample_weight(config, stats, groups[i], lengths[i]));
  }
}

// Note [Mini-batch weights]: each mode normalizes over the mini-batch's
// samples. Three groups A = {10, 40}, B = {20, 20}, C = {5}; the mini-batch {A, C}.
TEST(LossAggregation, MiniBatchWeightsNormalizeOverTheMiniBatch) {
  SingleProcessCommunicator communicator;
  const std::vector<Sample> samples = {{0, 10}, {0, 40}, {1, 20}, {1, 20}, {2, 5}};
  for (const AggregationMode mode : {AggregationMode::kTokenMean, AggregationMode::kSeqMeanTokenMean,
                                     AggregationMode::kSeqMeanTokenSumNorm, AggregationMode::kDeltaL}) {
    for (const DeltaLScope scope : {DeltaLScope::kGroup, DeltaLScope::kBatch}) {
      const AggregationConfig config = make_config(mode, 1.0, scope);
      StepStatistics stats(3, config.alpha);
      for (const auto& s : samples) stats.add_sample(s.group, s.length, 0.0);
      stats.all_reduce(communicator);
      const LossWeightTable table(config, stats, {0, 2});
      // The same weights as a step made of A and C alone (groups renumbered).
      StepStatistics alone(2, config.alpha);
      for (const auto& s : {Sample{0, 10}, Sample{0, 40}, Sample{1, 5}}) alone.add_sample(s.group, s.length, 0.0);
      alone.all_reduce(communicator);
      const LossWeightTable alone_table(config, alone);
      EXPECT_DOUBLE_EQ(table(0, 10), alone_table(0, 10)) << aggregation_mode_name(mode);
      EXPECT_DOUBLE_EQ(table(0, 40), alone_table(0, 40)) << aggregation_mode_name(mode);
      EXPECT_DOUBLE_EQ(table(2, 5), alone_table(1, 5)) << aggregation_mode_name(mode);
      EXPECT_THROW(table(1, 20), std::logic_error) << "group B is not in the mini-batch";
      // Every group: the step's weights, bit for bit.
      const LossWeightTable whole(config, stats, {0, 1, 2}), step(config, stats);
      for (const auto& s : samples) EXPECT_EQ(whole(s.group, s.length), step(s.group, s.length));
    }
  }
  // Hand-computed: DAPO over {A, C} is 1/55; ΔL group scope α = 1 gives A's
  // 10-token sample (1/10) / (M · 2 · (1/10 + 1/40)) = 0.004.
  StepStatistics stats(3, 1.0);
  for (const auto& s : samples) stats.add_sample(s.group, s.length, 0.0);
  stats.all_reduce(communicator);
  EXPECT_DOUBLE_EQ(LossWeightTable(make_config(AggregationMode::kTokenMean), stats, {0, 2})(0, 10), 1.0 / 55);
  EXPECT_NEAR(LossWeightTable(make_config(AggregationMode::kDeltaL), stats, {0, 2})(0, 10), 0.004, 1e-15);
  EXPECT_THROW(LossWeightTable(make_config(AggregationMode::kDeltaL), stats, {2, 0}), std::logic_error);
}

TEST(LossAggregationErrors, UnknownModeListsValidNames) {
  try {
    parse_aggregation_mode("grpo");
    FAIL();
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("unknown aggregation mode \"grpo\""), std::string::npos) << message;
    EXPECT_NE(message.find("seq-mean-token-mean"), std::string::npos) << message;
  }
  EXPECT_THROW(parse_delta_l_scope("global"), InputError);
}

TEST(LossAggregationErrors, NegativeAlphaAndNonPositiveMAreRejected) {
  AggregationConfig config;
  config.max_response_length = 100;
  config.alpha = -0.5;
  EXPECT_THROW(config.validate(), InputError);
  config.alpha = std::nan("");
  EXPECT_THROW(config.validate(), InputError);
  config.alpha = 1.0;
  for (double m : {0.0, -1.0}) {
    config.max_response_length = m;
    try {
      config.validate();
      FAIL() << "M = " << m;
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find("max response length M must be > 0"), std::string::npos);
    }
  }
  // M is not needed by GRPO, so it is not checked there.
  config.mode = AggregationMode::kSeqMeanTokenMean;
  EXPECT_NO_THROW(config.validate());
  EXPECT_THROW(StepStatistics(2, -1.0), InputError);
}

TEST(LossAggregationErrors, ZeroLengthSampleIsRejected) {
  StepStatistics stats(1, 1.0);
  try {
    stats.add_sample(0, 0, 1.0);
    FAIL();
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("0 valid tokens"), std::string::npos) << error.what();
  }
  EXPECT_THROW(stats.add_sample(0, -5, 1.0), InputError);
  EXPECT_THROW(stats.add_sample(1, 5, 1.0), InputError);   // group out of range
  EXPECT_THROW(stats.add_sample(0, 5, std::nan("")), InputError);
}

TEST(LossAggregationErrors, EmptyGroupIsNamedAfterAllReduce) {
  SingleProcessCommunicator communicator;
  StepStatistics stats(3, 1.0);
  stats.add_sample(0, 5, 1.0);
  stats.add_sample(2, 5, 1.0);
  try {
    stats.all_reduce(communicator);
    FAIL();
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("prompt group 1 has no samples"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(StepStatistics(0, 1.0), InputError);
}

}  // namespace
}  // namespace deltarl
