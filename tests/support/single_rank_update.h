// single_rank_update(): one PolicyUpdater step on one rank, its stages in the
// order TrainingRun::run_step calls them, for tests of the update itself
// (the statistics and gradient all-reduces are identities on one rank).
#pragma once

#include <vector>

#include <torch/torch.h>

#include "trainer/algorithm/policy_update.h"
#include "trainer/comm/single_process_communicator.h"

namespace deltarl::testing_support {

inline PolicyUpdateResult single_rank_update(PolicyUpdater& updater, const std::vector<RolloutSample>& samples,
                                             int64_t groups, double learning_rate) {
  SingleProcessCommunicator communicator;
  StepStatistics statistics = StepStatistics::of_samples(samples, groups, updater.options().aggregation.alpha);
  statistics.all_reduce(communicator);
  const LossWeightTable weights(updater.options().aggregation, statistics);
  const AdvantageTable advantages(updater.options().advantage, statistics);
  PolicyUpdateResult result;
  updater.start();
  for (const auto& micro_batch : micro_batches(samples, updater.options().micro_batching.size)) {
    updater.accumulate(micro_batch, weights, advantages, &result);
  }
  communicator.all_reduce_sum(updater.flat_gradients().buckets(Communicator::kDefaultBucketBytes));
  updater.clip_and_step(updater.flat_gradients().square_sum(), learning_rate, &result);
  return result;
}

}  // namespace deltarl::testing_support
