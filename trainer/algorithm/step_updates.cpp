#include "trainer/algorithm/step_updates.h"

#include <chrono>

#include "trainer/algorithm/ppo_mini_batches.h"

namespace deltarl {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Stages 1 and 2: each rank stepped its shard; every rank gets every shard
// back as model-dtype weights. Collective.
void all_gather_updated_weights(AdamW& optimizer, Communicator& communicator) {
  torch::NoGradGuard no_grad;
  const torch::Tensor mine = optimizer.pack_shard_weights();  // (shard_numel,) model dtype
  torch::Tensor gathered = torch::empty({optimizer.layout().padded_numel()}, mine.options());
  communicator.all_gather_into(mine, gathered);
  optimizer.unpack_weights(gathered);
}

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
  const int64_t stage = options.zero_stage;
  const OptimizerShard& shard = updater.optimizer().shard();
  TORCH_CHECK(stage == 0 ? shard.count == 1 : (shard.count == communicator.world_size() &&
                                                shard.rank == communicator.rank()),
              "run_step_updates: train.zero_stage ", stage, " on rank ", communicator.rank(), " of ",
              communicator.world_size(), " needs ", stage == 0 ? "an unsharded AdamW" : "an AdamW sharded over them",
              ", got shard ", shard.rank, " of ", shard.count);
  const torch::Device device = communicator.device();

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
      // update, with zeros when it holds no sample of the mini-batch. In fp32
      // from the flat buffer (Note [ZeRO stages]): all-reduced at stages 0
      // and 1, reduce-scattered at stage 2, whose norm is then one scalar all-reduce.
      FlatGradients& gradients = updater.flat_gradients();
      const auto started = Clock::now();
      double square_sum = 0;
      if (stage == 2) {
        phase("gradient reduce-scatter");
        communicator.reduce_scatter_sum(gradients.full(), gradients.shard());
        gradients.release_full();
        torch::Tensor shard_square_sum =
            torch::tensor({gradients.square_sum()}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
        communicator.all_reduce_sum(shard_square_sum);
        square_sum = shard_square_sum.item<double>();
      } else {
        phase("gradient all-reduce");
        communicator.all_reduce_sum(gradients.buckets(Communicator::kDefaultBucketBytes));
        square_sum = gradients.square_sum();
      }
      result.gradient_allreduce_seconds += seconds_since(started);
      if (observer.gradients_reduced && stage != 2) observer.gradients_reduced(update, gradients.per_parameter());
      phase("optimizer");
      updater.clip_and_step(square_sum, learning_rate, &result.totals);
      if (updater.optimizer().sharded() && !result.totals.skipped) {
        phase("weight all-gather");
        all_gather_updated_weights(updater.optimizer(), communicator);
      }
      ++update;
    }
  }
  return result;
}

}  // namespace deltarl
