// Group-relative advantages from the same global StepStatistics as the weights,
// so a sample's advantage is identical on every rank that could hold it.
//
//   GRPO      A_i = (r_i - mean_g) / (std_g + ε)    std_g unbiased (n-1), as torch.std
//   Dr. GRPO  A_i =  r_i - mean_g                   no std scaling
//
// A group with a single sample has no baseline: its advantage is 0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/algorithm/step_statistics.h"

namespace deltarl {

enum class AdvantageEstimator {
  kGrpo,    // "grpo"
  kDrGrpo,  // "dr-grpo"
};

AdvantageEstimator parse_advantage_estimator(const std::string& name);  // throws InputError
const char* advantage_estimator_name(AdvantageEstimator estimator);

// Requires global statistics (stats.is_global()) and `group` in range.
double group_reward_mean(const StepStatistics& stats, int64_t group);
double group_reward_std(const StepStatistics& stats, int64_t group);  // unbiased; 0 for n = 1

double sample_advantage(AdvantageEstimator estimator, const StepStatistics& stats, int64_t group,
                        double reward, double epsilon = 1e-6);

// The same advantages with each group's mean and scale computed once per step.
// Gives exactly sample_advantage()'s values.
class AdvantageTable {
 public:
  AdvantageTable(AdvantageEstimator estimator, const StepStatistics& stats, double epsilon = 1e-6);
  double operator()(int64_t group, double reward) const;  // group in [0, num_groups)

 private:
  std::vector<double> means_;   // (num_groups,)
  std::vector<double> scales_;  // (num_groups,): 1/(std+ε), 1, or 0 for a singleton group
};

}  // namespace deltarl
