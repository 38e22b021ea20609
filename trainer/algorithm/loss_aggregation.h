// Loss aggregation: the per-sample weight w_i of every mode in AggregationConfig,
// computed from global StepStatistics (Note [Group-global weights] in
// trainer/algorithm/step_statistics.h). A step's loss is
//
//     J = Σ_{i∈S} w_i Σ_{t<L_i} ℓ_{i,t}
//
// over all samples S of all ranks and micro-batches; each rank sums its own
// samples' terms and the gradients are all-reduced with SUM.
// docs/loss-aggregation.md derives each weight and why ΔL is unbiased and
// minimum-variance.
//
// Note [Mini-batch weights]
// A step with several PPO updates applies each weight in the mini-batch where
// the sample is updated: S above is the mini-batch's samples, and every
// mode's normalizer is that mini-batch's (group scope: its number of groups;
// batch scope and DAPO: its sums over all ranks). Mini-batches are unions of
// whole groups (ppo_mini_batches.h), so per-group sums suffice: the step's
// ONE all-reduce of StepStatistics serves every update, and each update's
// J is an unbiased ΔL estimate on its own. With one mini-batch of every group,
// the weights are the step's, bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "trainer/algorithm/aggregation_config.h"
#include "trainer/algorithm/step_statistics.h"

namespace deltarl {

// w_i for one sample of `group` with `length` valid tokens. Requires a validated
// config, global statistics accumulated with stats.alpha() == config.alpha when
// the mode is delta-l, and length ≥ 1. Double precision throughout.
double sample_weight(const AggregationConfig& config, const StepStatistics& stats, int64_t group,
                     int64_t length);

// Every mode's weight factors as w_i = length_factor(L_i) · group_factor(g(i)):
// LossWeightTable computes the group factors once per step, so weighing a
// step's samples costs a multiply each. Gives exactly sample_weight()'s values.
class LossWeightTable {
 public:
  // Same requirements as sample_weight(). Keeps a reference to `stats`.
  LossWeightTable(const AggregationConfig& config, const StepStatistics& stats);
  // The weights of one mini-batch: S is the samples of `mini_batch_groups`
  // (ascending, distinct, in range). A sample of another group has no weight:
  // operator() throws std::logic_error for it.
  LossWeightTable(const AggregationConfig& config, const StepStatistics& stats,
                  const std::vector<int64_t>& mini_batch_groups);
  double operator()(int64_t group, int64_t length) const;

 private:
  const AggregationConfig config_;
  const StepStatistics& stats_;
  std::vector<double> group_factors_;  // (num_groups,); NaN outside the mini-batch
};

// The same for many samples: `groups` and `lengths` are int64 tensors of shape
// (n,); returns float64 weights of shape (n,), on the CPU.
torch::Tensor sample_weights(const AggregationConfig& config, const StepStatistics& stats,
                             const torch::Tensor& groups, const torch::Tensor& lengths);

}  // namespace deltarl
