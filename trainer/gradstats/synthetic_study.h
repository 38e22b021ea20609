// SyntheticStudy: the Monte Carlo behind `deltarl gradstats --synthetic`.
// Per-sample gradients are drawn as g_i = μ + sqrt(V · L_i^β) · z_i (z_i standard
// normal, independent), lengths from a LengthDistribution held fixed; each
// aggregation mode's estimator ĝ = Σ_i w_i g_i uses the trainer's own weights
// (sample_weight() over StepStatistics). For each mode the study reports the
// expected scale E[ĝ]/μ (bias: unbiased modes do not change it when all lengths
// grow), the variance and the coefficient of variation, each beside the paper's
// closed form (trainer/gradstats/closed_forms.h).
//
// The lengths are multiplied by each of `length_scales`, with M held fixed, to
// show which modes' scale shrinks as responses grow. All modes share the same
// random draws (common random numbers), so their differences are not noise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/algorithm/aggregation_config.h"
#include "trainer/gradstats/closed_forms.h"

namespace deltarl {

struct SyntheticStudyOptions {
  std::string length_spec = "uniform:32..1024";
  double beta = 1.0;                   // Var[g_i] ∝ L_i^β
  int64_t num_groups = 1;              // prompt groups in the step
  int64_t group_size = 16;             // samples per group
  std::vector<double> length_scales = {1, 2, 4, 8};
  int64_t trials = 100000;
  uint64_t seed = 1;
  double max_response_length = 0;      // M; 0: the longest length at the largest scale
  std::vector<double> delta_l_alphas = {1.0, 0.75, 0.5, 0.25, 0.0};
  DeltaLScope delta_l_scope = DeltaLScope::kGroup;
  double gradient_mean = 1.0;          // μ
  double token_variance = 0.01;        // V, relative to μ²: CV ∝ sqrt(V)/μ

  void validate() const;  // throws InputError naming the option
};

struct EstimatorStudy {
  std::string label;                   // "GRPO", "DAPO", "Dr. GRPO", "seq-mean-token-sum", "dL a=0.5"
  AggregationConfig config;
  bool unbiased_by_construction = false;  // Σ w_i does not depend on lengths
  // One entry per length scale, in the order of options.length_scales.
  std::vector<EstimatorMoments> monte_carlo;
  std::vector<EstimatorMoments> closed_form;
};

struct SyntheticStudyResult {
  SyntheticStudyOptions options;
  double max_response_length = 0;      // M actually used
  std::vector<std::vector<int64_t>> base_lengths;  // per group, at scale 1
  std::vector<EstimatorStudy> estimators;
};

SyntheticStudyResult run_synthetic_study(const SyntheticStudyOptions& options);

}  // namespace deltarl
