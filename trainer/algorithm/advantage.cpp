#include "trainer/algorithm/advantage.h"

#include <algorithm>
#include <cmath>

#include "core/input_error.h"

namespace deltarl {

AdvantageEstimator parse_advantage_estimator(const std::string& name) {
  if (name == "grpo") return AdvantageEstimator::kGrpo;
  if (name == "dr-grpo") return AdvantageEstimator::kDrGrpo;
  throw InputError("unknown advantage estimator \"" + name + "\"; valid: grpo, dr-grpo");
}

const char* advantage_estimator_name(AdvantageEstimator estimator) {
  return estimator == AdvantageEstimator::kGrpo ? "grpo" : "dr-grpo";
}

double group_reward_mean(const StepStatistics& stats, int64_t group) {
  return stats.group_reward_sum(group) / stats.group_count(group);
}

double group_reward_std(const StepStatistics& stats, int64_t group) {
  const double count = stats.group_count(group);
  if (count < 2.0) return 0.0;
  const double sum = stats.group_reward_sum(group);
  // Rounding can make the centred sum of squares slightly negative for equal rewards.
  const double centred = std::max(0.0, stats.group_reward_square_sum(group) - sum * sum / count);
  return std::sqrt(centred / (count - 1.0));
}

namespace {

// A_i = (r_i - mean_g) · scale_g.
double advantage_scale(AdvantageEstimator estimator, const StepStatistics& stats, int64_t group,
                       double epsilon) {
  if (stats.group_count(group) < 2.0) return 0.0;  // no baseline for a lone sample
  if (estimator == AdvantageEstimator::kDrGrpo) return 1.0;
  return 1.0 / (group_reward_std(stats, group) + epsilon);
}

}  // namespace

double sample_advantage(AdvantageEstimator estimator, const StepStatistics& stats, int64_t group,
                        double reward, double epsilon) {
  return (reward - group_reward_mean(stats, group)) * advantage_scale(estimator, stats, group, epsilon);
}

AdvantageTable::AdvantageTable(AdvantageEstimator estimator, const StepStatistics& stats,
                               double epsilon) {
  for (int64_t g = 0; g < stats.num_groups(); ++g) {
    means_.push_back(group_reward_mean(stats, g));
    scales_.push_back(advantage_scale(estimator, stats, g, epsilon));
  }
}

double AdvantageTable::operator()(int64_t group, double reward) const {
  if (group < 0 || group >= static_cast<int64_t>(means_.size())) {
    throw InputError("group " + std::to_string(group) + " is outside [0, " +
                     std::to_string(means_.size()) + ")");
  }
  const size_t g = static_cast<size_t>(group);
  return (reward - means_[g]) * scales_[g];
}

}  // namespace deltarl
