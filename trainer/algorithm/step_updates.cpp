#include "trainer/algorithm/step_updates.h"

#include <chrono>

#include "trainer/algorithm/ppo_mini_batches.h"

namespace deltarl {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<RolloutSample*> all_of(std::vector<RolloutSample>& samples) {
  std::vector<RolloutSample*> pointers;
  pointers.reserve(samples.size());
  for (auto& sample : samples) pointers.push_back(&sample);
  return pointers;
}

}  // namespace

StepUpdatesResult run_step_updates(PolicyUpdater& updater, Communicator& communicator,
                                   std::vector<RolloutSample>& samples, const StepStatistics& statistics,
                                   int64_t step, double learning_rate, const StepUpdatesObserver& observer) {
  const auto phase = [&](const char* name) {
    if (observer.phase) observer.phase(name);
  };
  const PolicyUpdateOptions& options = updater.options();
  StepUpdatesResult result;
  const int64_t num_groups = statistics.num_groups();
  // The advantages are the step's (a group's baseline is its whole group, which
  // always lies in one mini-batch); the weights are each mini-batch's.
  const AdvantageTable advantages(options.advantage, statistics);

  // 1. π_old for every sample of this rank, before any update moves the weights.
  for (auto& sample : samples) sample.old_log_probs.clear();
  if (updater.needs_old_log_probs(num_groups)) {
    phase("old log-probs");
    const auto started = Clock::now();
    for (const auto& micro_batch : micro_batches(all_of(samples), options.micro_batching)) {
      updater.compute_old_log_probs(micro_batch);
    }
    result.old_log_prob_seconds = seconds_since(started);
  }

  // 2. The updates: each epoch reshuffles the groups into mini-batches.
  int64_t update = 0;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    for (const std::vector<int64_t>& groups :
         ppo_mini_batch_groups(num_groups, options.groups_per_mini_batch, options.seed, step, epoch)) {
      if (observer.before_update) observer.before_update(update);
      const LossWeightTable weights(options.aggregation, statistics, groups);
      phase("forward-backward");
      updater.start();
      for (const auto& micro_batch : micro_batches(samples_of_groups(samples, groups), options.micro_batching)) {
        updater.accumulate({micro_batch.begin(), micro_batch.end()}, weights, advantages, &result.totals);
      }
      // SUM, since the weights are already global; every rank joins each
      // update, with zeros when it holds no sample of the mini-batch.
      phase("gradient all-reduce");
      const auto started = Clock::now();
      const std::vector<torch::Tensor> gradients = updater.gradients();
      communicator.all_reduce_sum(gradients);
      result.gradient_allreduce_seconds += seconds_since(started);
      if (observer.gradients_reduced) observer.gradients_reduced(update, gradients);
      phase("optimizer");
      updater.clip_and_step(gradients, learning_rate, &result.totals);
      ++update;
    }
  }
  return result;
}

}  // namespace deltarl
