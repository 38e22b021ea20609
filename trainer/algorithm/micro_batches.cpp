#include "trainer/algorithm/micro_batches.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "core/input_error.h"

namespace deltarl {

namespace {

template <typename Sample, typename Samples>
std::vector<std::vector<Sample*>> consecutive_runs(Samples& samples, int64_t size) {
  std::vector<std::vector<Sample*>> batches;
  for (size_t begin = 0; begin < samples.size(); begin += static_cast<size_t>(size)) {
    std::vector<Sample*>& batch = batches.emplace_back();
    for (size_t i = begin; i < std::min(samples.size(), begin + static_cast<size_t>(size)); ++i) {
      if constexpr (std::is_pointer_v<typename Samples::value_type>) {
        batch.push_back(samples[i]);
      } else {
        batch.push_back(&samples[i]);
      }
    }
  }
  return batches;
}

std::vector<std::vector<RolloutSample*>> by_token_budget(const std::vector<RolloutSample*>& samples,
                                                         int64_t token_budget) {
  std::vector<size_t> order(samples.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return samples[a]->tokens() > samples[b]->tokens(); });
  std::vector<std::vector<RolloutSample*>> batches;
  int64_t longest = 0;  // of the open micro-batch: its first sample, sorted longest first
  for (const size_t i : order) {
    RolloutSample* sample = samples[i];
    if (sample->tokens() > token_budget) {
      throw InputError("train.micro_batch_tokens is " + std::to_string(token_budget) + ", but sample " +
                       std::to_string(sample->sample_index) + " of group " + std::to_string(sample->group) +
                       " has " + std::to_string(sample->tokens()) + " tokens (prompt " +
                       std::to_string(sample->prompt_ids.size()) + " + response " +
                       std::to_string(sample->response_ids.size()) + "): set train.micro_batch_tokens ≥ " +
                       std::to_string(sample->tokens()) + " (the longest prompt + rollout.max_new_tokens always fits)");
    }
    const bool fits = !batches.empty() && static_cast<int64_t>(batches.back().size() + 1) * longest <= token_budget;
    if (!fits) {
      batches.emplace_back();
      longest = sample->tokens();
    }
    batches.back().push_back(sample);
  }
  return batches;
}

}  // namespace

void MicroBatching::validate() const {
  if (size < 1) throw InputError("train.micro_batch_size must be ≥ 1, got " + std::to_string(size));
  if (token_budget < 0) {
    throw InputError("train.micro_batch_tokens must be ≥ 0 (0: micro-batches of train.micro_batch_size samples), got " +
                     std::to_string(token_budget));
  }
}

std::vector<std::vector<RolloutSample*>> micro_batches(const std::vector<RolloutSample*>& samples,
                                                       const MicroBatching& batching) {
  if (batching.token_budget > 0) return by_token_budget(samples, batching.token_budget);
  return micro_batches(samples, batching.size);
}

std::vector<std::vector<const RolloutSample*>> micro_batches(const std::vector<RolloutSample>& samples,
                                                             int64_t size) {
  return consecutive_runs<const RolloutSample>(samples, size);
}

std::vector<std::vector<RolloutSample*>> micro_batches(const std::vector<RolloutSample*>& samples, int64_t size) {
  return consecutive_runs<RolloutSample>(samples, size);
}

}  // namespace deltarl
