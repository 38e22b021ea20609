// StepStatistics: the per-group and batch statistics that every loss-aggregation
// mode and advantage estimator needs for one optimizer step, made global across
// learner ranks with ONE all-reduce before the backward pass.
//
// Note [Group-global weights]
// A prompt group's samples may sit on different ranks and in different
// micro-batches. Each rank adds its own samples here; all_reduce() sums one small
// float64 vector across ranks; afterwards every rank holds identical global
// statistics, so the weight and advantage of a given sample are the same on
// every rank that could hold it. Gradients are then all-reduced with SUM (never
// mean), and the update is identical, up to floating-point reassociation, for
// any number of ranks, any split of groups across ranks and any micro-batch size
// (tests/trainer/aggregation_invariance_mpi_test.cpp proves it at 1, 2 and 4 ranks).
//
//   StepStatistics stats = StepStatistics::of_samples(my_samples, /*num_groups=*/B, config.alpha);
//   stats.all_reduce(communicator);                 // collective, once per step
//   double w = sample_weight(config, stats, s.group, s.length);
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "trainer/algorithm/rollout_sample.h"
#include "trainer/comm/communicator.h"

namespace deltarl {

class StepStatistics {
 public:
  // This rank's samples added (each with at least one token counted, so an
  // empty response still joins its group); not yet all-reduced.
  static StepStatistics of_samples(const std::vector<RolloutSample>& samples, int64_t num_groups, double alpha);

  // `num_groups`: the step's prompt groups, indexed 0..num_groups-1 identically
  // on every rank. `alpha`: the ΔL exponent whose Σ L^-α is accumulated (any
  // α ≥ 0; modes other than delta-l ignore it).
  StepStatistics(int64_t num_groups, double alpha);

  // Adds one local sample. Requires 0 ≤ group < num_groups, length ≥ 1 (valid,
  // unmasked response tokens) and a finite reward; throws InputError naming the
  // offending value otherwise. Must not be called after all_reduce().
  void add_sample(int64_t group, int64_t length, double reward);

  // Sums the statistics over all ranks of `communicator` (one all-reduce of
  // 5·num_groups doubles). Afterwards every group must have at least one
  // sample somewhere, else InputError names the empty group. Collective: all
  // ranks call it once per step, with the same num_groups and alpha.
  // Test-only: DELTARL_TEST_RANK_LOCAL_STATISTICS=1 in every rank's
  // environment skips the sum (each rank keeps its own statistics), the
  // negative control that the rank-invariance tests must catch.
  void all_reduce(Communicator& communicator);

  bool is_global() const { return is_global_; }
  int64_t num_groups() const { return num_groups_; }
  double alpha() const { return alpha_; }

  // Global statistics; require is_global(). `group` in [0, num_groups).
  double group_count(int64_t group) const;
  double group_reward_sum(int64_t group) const;
  double group_reward_square_sum(int64_t group) const;
  double group_length_power_sum(int64_t group) const;  // Σ_{j∈group} L_j^-α
  double group_token_sum(int64_t group) const;         // Σ_{j∈group} L_j
  double total_samples() const;                        // |S|
  double total_tokens() const;                         // Σ_S L_j
  double total_length_power_sum() const;               // Σ_S L_j^-α

  // L^-α, computed as exp(-α·ln L) in double precision (docs/loss-aggregation.md).
  static double length_power(int64_t length, double alpha);
  // The same value for this step's α, memoized per length (lengths repeat, and
  // exp/log dominate the cost of a step's statistics otherwise). Like every
  // method here, not safe to call from several threads at once.
  double cached_length_power(int64_t length) const;

 private:
  enum Field : int64_t { kCount = 0, kRewardSum, kRewardSquareSum, kLengthPowerSum, kTokenSum, kNumFields };
  double& field(Field f, int64_t group);
  double field(Field f, int64_t group) const;
  void require_global(int64_t group) const;

  int64_t num_groups_;
  double alpha_;
  bool is_global_ = false;
  // (kNumFields * num_groups,) float64: per-field blocks of num_groups.
  torch::Tensor packed_;
  double* data_ = nullptr;  // packed_'s storage
  mutable std::vector<double> length_power_cache_;  // index: length; 0 = not yet computed
  double total_samples_ = 0;
  double total_tokens_ = 0;
  double total_length_power_sum_ = 0;
};

}  // namespace deltarl
