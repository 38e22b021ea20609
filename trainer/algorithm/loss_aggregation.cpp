#include "trainer/algorithm/loss_aggregation.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>
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

// The sums over S that normalize the weights: the step's, or one mini-batch's.
struct Normalizers {
  double samples = 0;            // |S|
  double tokens = 0;             // Σ_S L_j
  double length_power_sum = 0;   // Σ_S L_j^-α
  double groups = 0;             // groups in S
};

Normalizers step_normalizers(const StepStatistics& stats) {
  return {stats.total_samples(), stats.total_tokens(), stats.total_length_power_sum(),
          static_cast<double>(stats.num_groups())};
}

// Summed over the groups in ascending order, as StepStatistics sums the
// step's: a mini-batch of every group gets the step's values bit for bit.
Normalizers mini_batch_normalizers(const StepStatistics& stats, const std::vector<int64_t>& groups) {
  Normalizers sums;
  int64_t previous = -1;
  for (int64_t group : groups) {
    if (group <= previous || group >= stats.num_groups()) {
      throw std::logic_error("LossWeightTable: mini-batch groups must be ascending, distinct and below " +
                             std::to_string(stats.num_groups()));
    }
    previous = group;
    sums.samples += stats.group_count(group);
    sums.tokens += stats.group_token_sum(group);
    sums.length_power_sum += stats.group_length_power_sum(group);
    sums.groups += 1;
  }
  return sums;
}

// The part of w_i shared by every sample of `group` (and, for most modes, of S).
double group_factor(const AggregationConfig& config, const StepStatistics& stats, const Normalizers& sums,
                    int64_t group) {
  const double max_length = config.max_response_length;
  switch (config.mode) {
    case AggregationMode::kSeqMeanTokenMean: return 1.0 / sums.samples;
    case AggregationMode::kTokenMean: return 1.0 / sums.tokens;
    case AggregationMode::kSeqMeanTokenSumNorm: return 1.0 / (sums.samples * max_length);
    case AggregationMode::kSeqMeanTokenSum: return 1.0 / sums.samples;
    case AggregationMode::kDeltaL:
      if (stats.alpha() != config.alpha) {
        throw std::logic_error("StepStatistics accumulated with alpha " +
                               std::to_string(stats.alpha()) + " but the config says " +
                               std::to_string(config.alpha));
      }
      if (config.scope == DeltaLScope::kBatch) {
        return 1.0 / (max_length * sums.length_power_sum);
      }
      return 1.0 / (max_length * sums.groups * stats.group_length_power_sum(group));
  }
  throw std::logic_error("unhandled aggregation mode");
}

}  // namespace

double sample_weight(const AggregationConfig& config, const StepStatistics& stats, int64_t group,
                     int64_t length) {
  require_valid_length(group, length);
  return length_factor(config, stats, length) * group_factor(config, stats, step_normalizers(stats), group);
}

LossWeightTable::LossWeightTable(const AggregationConfig& config, const StepStatistics& stats)
    : config_(config), stats_(stats) {
  const Normalizers sums = step_normalizers(stats);
  group_factors_.reserve(static_cast<size_t>(stats.num_groups()));
  for (int64_t g = 0; g < stats.num_groups(); ++g) group_factors_.push_back(group_factor(config, stats, sums, g));
}

LossWeightTable::LossWeightTable(const AggregationConfig& config, const StepStatistics& stats,
                                 const std::vector<int64_t>& mini_batch_groups)
    : config_(config), stats_(stats) {
  const Normalizers sums = mini_batch_normalizers(stats, mini_batch_groups);
  group_factors_.assign(static_cast<size_t>(stats.num_groups()), std::numeric_limits<double>::quiet_NaN());
  for (int64_t g : mini_batch_groups) group_factors_[static_cast<size_t>(g)] = group_factor(config, stats, sums, g);
}

double LossWeightTable::operator()(int64_t group, int64_t length) const {
  require_valid_length(group, length);
  if (group < 0 || group >= static_cast<int64_t>(group_factors_.size())) {
    throw InputError("group " + std::to_string(group) + " is outside [0, " +
                     std::to_string(group_factors_.size()) + ")");
  }
  const double factor = group_factors_[static_cast<size_t>(group)];
  if (std::isnan(factor)) {
    throw std::logic_error("LossWeightTable: group " + std::to_string(group) + " is not in this mini-batch");
  }
  return length_factor(config_, stats_, length) * factor;
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
