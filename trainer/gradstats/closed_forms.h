// The paper's closed forms (ΔL Normalization, He et al. 2025, Table 1,
// generalized to Var ∝ L^β) for the expectation and variance of each
// aggregation's gradient estimator ĝ = Σ_i w_i g_i, given fixed lengths and
// independent per-sample gradients with E[g_i] = μ and Var[g_i] = V · L_i^β.
//
// Written out per mode from the formulas, NOT through sample_weight(), so that
// Monte Carlo over sample_weight() checked against these is an independent test
// of the weights.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/algorithm/aggregation_config.h"

namespace deltarl {

struct EstimatorMoments {
  double expectation = 0;  // E[ĝ]
  double variance = 0;     // Var[ĝ]
  // Coefficient of variation sqrt(Var)/|E|: the noise per unit of signal.
  double coefficient_of_variation() const;
};

// `group_lengths[g]` holds the lengths (≥ 1) of group g's samples; no group empty.
EstimatorMoments closed_form_moments(const AggregationConfig& config,
                                     const std::vector<std::vector<int64_t>>& group_lengths,
                                     double beta, double gradient_mean, double token_variance);

}  // namespace deltarl
