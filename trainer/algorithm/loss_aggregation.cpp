#include "trainer/algorithm/loss_aggregation.h"

#include <c10/util/Exception.h>

#include <stdexcept>

#include "core/input_error.h"

namespace deltarl {

namespace {

void require_valid_length(int64_t group, int64_t length) {
  if (length < 1) {
    throw InputError("a sample of group " + std::to_string(group) + " has " +
                     std::to_string(length) + " valid tokens; weights need at least one");
  }
}

// The part of w_i that depends on the sample's own length.
double length_factor(const AggregationConfig& config, const StepStatistics& stats, int64_t length) {
  switch (config.mode) {
    case AggregationMode::kSeqMeanTokenMean: return 1.0 / static_cast<double>(length);
    case AggregationMode::kDeltaL: return stats.cached_length_power(length);
    default: return 1.0;
  }
}

// The part of w_i shared by every sample of `group` (and, for most modes, the step).
double group_factor(const AggregationConfig& config, const StepStatistics& stats, int64_t group) {
  const double samples = stats.total_samples();
  const double max_length = config.max_response_length;
  switch (config.mode) {
    case AggregationMode::kSeqMeanTokenMean: return 1.0 / samples;
    case AggregationMode::kTokenMean: return 1.0 / stats.total_tokens();
    case AggregationMode::kSeqMeanTokenSumNorm: return 1.0 / (samples * max_length);
    case AggregationMode::kSeqMeanTokenSum: return 1.0 / samples;
    case AggregationMode::kDeltaL:
      if (stats.alpha() != config.alpha) {
        throw std::logic_error("StepStatistics accumulated with alpha " +
                               std::to_string(stats.alpha()) + " but the config says " +
                               std::to_string(config.alpha));
      }
      if (config.scope == DeltaLScope::kBatch) {
        return 1.0 / (max_length * stats.total_length_power_sum());
      }
      return 1.0 / (max_length * static_cast<double>(stats.num_groups()) *
                    stats.group_length_power_sum(group));
  }
  throw std::logic_error("unhandled aggregation mode");
}

}  // namespace

double sample_weight(const AggregationConfig& config, const StepStatistics& stats, int64_t group,
                     int64_t length) {
  require_valid_length(group, length);
  return length_factor(config, stats, length) * group_factor(config, stats, group);
}

LossWeightTable::LossWeightTable(const AggregationConfig& config, const StepStatistics& stats)
    : config_(config), stats_(stats) {
  group_factors_.reserve(static_cast<size_t>(stats.num_groups()));
  for (int64_t g = 0; g < stats.num_groups(); ++g) group_factors_.push_back(group_factor(config, stats, g));
}

double LossWeightTable::operator()(int64_t group, int64_t length) const {
  require_valid_length(group, length);
  if (group < 0 || group >= static_cast<int64_t>(group_factors_.size())) {
    throw InputError("group " + std::to_string(group) + " is outside [0, " +
                     std::to_string(group_factors_.size()) + ")");
  }
  return length_factor(config_, stats_, length) * group_factors_[static_cast<size_t>(group)];
}

torch::Tensor sample_weights(const AggregationConfig& config, const StepStatistics& stats,
                             const torch::Tensor& groups, const torch::Tensor& lengths) {
  TORCH_CHECK(groups.dim() == 1 && lengths.dim() == 1 && groups.numel() == lengths.numel(),
              "sample_weights: groups and lengths must be 1-D of equal size");
  torch::Tensor group_ids = groups.to(torch::kCPU, torch::kInt64).contiguous();
  torch::Tensor length_values = lengths.to(torch::kCPU, torch::kInt64).contiguous();
  torch::Tensor weights = torch::empty({groups.numel()}, torch::kFloat64);  // (n,)
  const int64_t* group_data = group_ids.data_ptr<int64_t>();
  const int64_t* length_data = length_values.data_ptr<int64_t>();
  double* weight_data = weights.data_ptr<double>();
  const LossWeightTable table(config, stats);
  for (int64_t i = 0; i < groups.numel(); ++i) weight_data[i] = table(group_data[i], length_data[i]);
  return weights;
}

}  // namespace deltarl
