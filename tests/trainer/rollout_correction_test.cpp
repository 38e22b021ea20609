// Rollout correction weights on hand-computed ratios: truncation and masking
// per token and per sequence (geometric mean), padding ignored, and the names.
#include "trainer/algorithm/rollout_correction.h"

#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "core/input_error.h"

namespace deltarl {
namespace {

// Two samples; log ratios old − rollout: row 0 {ln 3, ln 0.25, 0}, row 1 {ln 1.5, ln 1.5, pad}.
struct Batch {
  torch::Tensor old_log_probs, rollout_log_probs, mask;
};

Batch batch() {
  Batch b;
  b.rollout_log_probs = torch::full({2, 3}, -2.0f);
  const torch::Tensor log_ratio = torch::tensor({{std::log(3.0f), std::log(0.25f), 0.0f},
                                                 {std::log(1.5f), std::log(1.5f), 7.0f}});
  b.old_log_probs = b.rollout_log_probs + log_ratio;
  b.mask = torch::tensor({{1.0f, 1.0f, 1.0f}, {1.0f, 1.0f, 0.0f}});
  return b;
}

RolloutCorrectionWeights weights_for(RolloutCorrection mode, double cap = 2.0) {
  const Batch b = batch();
  return rollout_correction_weights(b.old_log_probs, b.rollout_log_probs, b.mask, {mode, cap});
}

void expect_weights(const torch::Tensor& actual, std::vector<float> expected) {
  const torch::Tensor flat = actual.reshape({-1});
  ASSERT_EQ(flat.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(flat[static_cast<int64_t>(i)].item<float>(), expected[i], 1e-6) << "token " << i;
  }
}

TEST(RolloutCorrection, NoneHasNoWeights) {
  const auto w = weights_for(RolloutCorrection::kNone);
  EXPECT_FALSE(w.weights.defined());
  EXPECT_EQ(w.weight_sum, 5);
  EXPECT_EQ(w.corrected_tokens, 0);
}

TEST(RolloutCorrection, TisTruncatesEachTokensRatioAtTheCap) {
  const auto w = weights_for(RolloutCorrection::kTis);
  expect_weights(w.weights, {2.0f, 0.25f, 1.0f, 1.5f, 1.5f, 0.0f});
  EXPECT_EQ(w.corrected_tokens, 1);
  EXPECT_NEAR(w.weight_sum, 6.25, 1e-5);
}

TEST(RolloutCorrection, MisMasksTokensOutsideTheBand) {
  const auto w = weights_for(RolloutCorrection::kMis);
  expect_weights(w.weights, {0.0f, 0.0f, 1.0f, 1.0f, 1.0f, 0.0f});
  EXPECT_EQ(w.corrected_tokens, 2);
}

TEST(RolloutCorrection, SequenceFormsUseTheGeometricMeanPerToken) {
  // Row 0: exp((ln 3 + ln 0.25 + 0)/3) = 0.75^(1/3) ≈ 0.909; row 1: 1.5 (padding ignored).
  const float row0 = std::cbrt(0.75f);
  const auto tis = weights_for(RolloutCorrection::kSeqTis, 1.2);
  expect_weights(tis.weights, {row0, row0, row0, 1.2f, 1.2f, 0.0f});
  EXPECT_EQ(tis.corrected_tokens, 2);
  const auto mis = weights_for(RolloutCorrection::kSeqMis, 1.2);
  expect_weights(mis.weights, {1.0f, 1.0f, 1.0f, 0.0f, 0.0f, 0.0f});
  EXPECT_EQ(mis.corrected_tokens, 2);
}

TEST(RolloutCorrection, NamesRoundTripAndUnknownNamesAreListed) {
  for (const char* name : {"none", "tis", "mis", "seq-tis", "seq-mis"}) {
    EXPECT_STREQ(rollout_correction_name(parse_rollout_correction(name)), name);
  }
  try {
    parse_rollout_correction("is");
    FAIL() << "no error";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("none, tis, mis, seq-tis or seq-mis"), std::string::npos);
  }
}

}  // namespace
}  // namespace deltarl
