#include "trainer/loss_aggregation.h"

#include <c10/util/Exception.h>

#include <stdexcept>

#include "core/input_error.h"

namespace deltarl {

double sample_weight(const AggregationConfig& config, const StepStatistics& stats, int64_t group,
                     int64_t length) {
  if (length < 1) {
    throw InputError("a sample of group " + std::to_string(group) + " has " +
                     std::to_string(length) + " valid tokens; weights need at least one");
  }
  const double samples = stats.total_samples();
  const double max_length = config.max_response_length;
  switch (config.mode) {
    case AggregationMode::kSeqMeanTokenMean:
      return 1.0 / (samples * static_cast<double>(length));
    case AggregationMode::kTokenMean:
      return 1.0 / stats.total_tokens();
    case AggregationMode::kSeqMeanTokenSumNorm:
      return 1.0 / (samples * max_length);
    case AggregationMode::kSeqMeanTokenSum:
      return 1.0 / samples;
    case AggregationMode::kDeltaL: {
      if (stats.alpha() != config.alpha) {
        throw std::logic_error("StepStatistics accumulated with alpha " +
                               std::to_string(stats.alpha()) + " but the config says " +
                               std::to_string(config.alpha));
      }
      const double power = StepStatistics::length_power(length, config.alpha);
      if (config.scope == DeltaLScope::kBatch) {
        return power / (max_length * stats.total_length_power_sum());
      }
      const double groups = static_cast<double>(stats.num_groups());
      return power / (max_length * groups * stats.group_length_power_sum(group));
    }
  }
  throw std::logic_error("unhandled aggregation mode");
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
  for (int64_t i = 0; i < groups.numel(); ++i) {
    weight_data[i] = sample_weight(config, stats, group_data[i], length_data[i]);
  }
  return weights;
}

}  // namespace deltarl
