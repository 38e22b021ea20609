#include "trainer/algorithm/step_statistics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/input_error.h"

namespace deltarl {

StepStatistics::StepStatistics(int64_t num_groups, double alpha)
    : num_groups_(num_groups), alpha_(alpha) {
  if (num_groups <= 0) {
    throw InputError("a step needs at least one prompt group, got num_groups = " +
                     std::to_string(num_groups));
  }
  if (!(std::isfinite(alpha) && alpha >= 0.0)) {
    throw InputError("alpha must be a finite number >= 0, got " + std::to_string(alpha));
  }
  packed_ = torch::zeros({kNumFields * num_groups}, torch::kFloat64);
  data_ = packed_.data_ptr<double>();
}

StepStatistics StepStatistics::of_samples(const std::vector<RolloutSample>& samples, int64_t num_groups,
                                          double alpha) {
  StepStatistics statistics(num_groups, alpha);
  for (const auto& sample : samples) {
    statistics.add_sample(sample.group, std::max<int64_t>(1, static_cast<int64_t>(sample.response_ids.size())),
                          sample.reward);
  }
  return statistics;
}

double StepStatistics::length_power(int64_t length, double alpha) {
  return std::exp(-alpha * std::log(static_cast<double>(length)));
}

double StepStatistics::cached_length_power(int64_t length) const {
  constexpr int64_t kLargestCachedLength = int64_t{1} << 20;
  if (length > kLargestCachedLength) return length_power(length, alpha_);
  if (static_cast<int64_t>(length_power_cache_.size()) <= length) {
    length_power_cache_.resize(static_cast<size_t>(length) + 1, 0.0);
  }
  double& cached = length_power_cache_[static_cast<size_t>(length)];
  if (cached == 0.0) cached = length_power(length, alpha_);  // L^-α > 0 for every L ≥ 1
  return cached;
}

double& StepStatistics::field(Field f, int64_t group) {
  return data_[f * num_groups_ + group];
}

double StepStatistics::field(Field f, int64_t group) const {
  return data_[f * num_groups_ + group];
}

void StepStatistics::add_sample(int64_t group, int64_t length, double reward) {
  if (is_global_) throw std::logic_error("StepStatistics::add_sample after all_reduce");
  if (group < 0 || group >= num_groups_) {
    throw InputError("sample's group " + std::to_string(group) + " is outside [0, " +
                     std::to_string(num_groups_) + ")");
  }
  if (length < 1) {
    throw InputError("sample in group " + std::to_string(group) + " has " + std::to_string(length) +
                     " valid tokens; every sample needs at least one (an empty or fully "
                     "masked response cannot be weighted by its length)");
  }
  if (!std::isfinite(reward)) {
    throw InputError("sample in group " + std::to_string(group) + " has a non-finite reward");
  }
  field(kCount, group) += 1.0;
  field(kRewardSum, group) += reward;
  field(kRewardSquareSum, group) += reward * reward;
  field(kLengthPowerSum, group) += cached_length_power(length);
  field(kTokenSum, group) += static_cast<double>(length);
}

namespace {

// The negative control of the rank-invariance tests: each rank keeps its own
// sums, so a group split across ranks is weighted differently on each (the
// bug Note [Group-global weights] prevents). Read from the environment, at
// every step (a test may set it for one step), so the end-to-end test can set
// it on `deltarl train`; never set in a real run.
bool rank_local_statistics_for_tests() {
  const char* value = std::getenv("DELTARL_TEST_RANK_LOCAL_STATISTICS");
  return value != nullptr && std::string(value) == "1";
}

}  // namespace

void StepStatistics::all_reduce(Communicator& communicator) {
  if (is_global_) throw std::logic_error("StepStatistics::all_reduce called twice");
  const bool rank_local = rank_local_statistics_for_tests();  // the same on every rank
  if (rank_local) {
    // the negative control: no sum
  } else if (communicator.device().is_cpu()) {
    communicator.all_reduce_sum(packed_);
  } else {
    torch::Tensor on_device = packed_.to(communicator.device());
    communicator.all_reduce_sum(on_device);
    packed_.copy_(on_device);
  }
  is_global_ = true;
  total_samples_ = 0;
  total_tokens_ = 0;
  total_length_power_sum_ = 0;
  for (int64_t g = 0; g < num_groups_; ++g) {
    if (field(kCount, g) == 0.0 && !rank_local) {
      std::ostringstream message;
      message << "prompt group " << g << " has no samples on any of the "
              << communicator.world_size()
              << " ranks; every group of a step needs at least one completion "
                 "(a rollout lost, or a wrong group index?)";
      throw InputError(message.str());
    }
    total_samples_ += field(kCount, g);
    total_tokens_ += field(kTokenSum, g);  // integers: exact in any order
    total_length_power_sum_ += field(kLengthPowerSum, g);
  }
}

void StepStatistics::require_global(int64_t group) const {
  if (!is_global_) throw std::logic_error("StepStatistics read before all_reduce");
  if (group < 0 || group >= num_groups_) {
    throw InputError("group " + std::to_string(group) + " is outside [0, " +
                     std::to_string(num_groups_) + ")");
  }
}

double StepStatistics::group_count(int64_t group) const {
  require_global(group);
  return field(kCount, group);
}
double StepStatistics::group_reward_sum(int64_t group) const {
  require_global(group);
  return field(kRewardSum, group);
}
double StepStatistics::group_reward_square_sum(int64_t group) const {
  require_global(group);
  return field(kRewardSquareSum, group);
}
double StepStatistics::group_length_power_sum(int64_t group) const {
  require_global(group);
  return field(kLengthPowerSum, group);
}
double StepStatistics::group_token_sum(int64_t group) const {
  require_global(group);
  return field(kTokenSum, group);
}
double StepStatistics::total_samples() const {
  require_global(0);
  return total_samples_;
}
double StepStatistics::total_tokens() const {
  require_global(0);
  return total_tokens_;
}
double StepStatistics::total_length_power_sum() const {
  require_global(0);
  return total_length_power_sum_;
}

}  // namespace deltarl
