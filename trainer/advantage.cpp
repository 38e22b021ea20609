#include "trainer/advantage.h"

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

double sample_advantage(AdvantageEstimator estimator, const StepStatistics& stats, int64_t group,
                        double reward, double epsilon) {
  if (stats.group_count(group) < 2.0) return 0.0;
  const double centred = reward - group_reward_mean(stats, group);
  if (estimator == AdvantageEstimator::kDrGrpo) return centred;
  return centred / (group_reward_std(stats, group) + epsilon);
}

}  // namespace deltarl
