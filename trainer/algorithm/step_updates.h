// run_step_updates(): every PPO update of one step on this rank's samples, the
// production path that `deltarl train` (TrainingRun::run_step) and
// `deltarl update` share. With the step's global statistics in hand:
//
//   1. π_old, when the step makes more than one update: one forward per
//      micro-batch over this rank's samples, before the first update;
//   2. for each epoch, for each mini-batch of whole groups (ppo_mini_batches.h):
//      the mini-batch's loss weights (LossWeightTable over its groups) and the
//      step's advantages; forward/backward per micro-batch of this rank's
//      samples in it, into the flat fp32 gradient; its reduction (SUM); clip
//      to the global norm and AdamW at the step's one learning rate.
//
// Collective over `communicator`, the same calls on every rank in the same
// order (a rank without samples in a mini-batch contributes zeros), per
// update, by options().zero_stage (Note [ZeRO stages], flat_gradients.h):
//   0  the flat gradient all-reduced (in 25 MiB buckets);
//   1  the same, then one all-gather of the updated weight shards;
//   2  one reduce-scatter of the flat gradient, one scalar all-reduce of the
//      squared norm, one all-gather of the updated weight shards.
// An update whose norm is not finite is skipped on every rank, all-gather
// included. The statistics' all-reduce is the caller's, once per step.
// Stages 1 and 2 need the updater's AdamW sharded over `communicator`
// (OptimizerShard{rank, world_size}); stage 0 an unsharded one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trainer/algorithm/policy_update.h"
#include "trainer/algorithm/step_statistics.h"
#include "trainer/comm/communicator.h"

namespace deltarl {

// What a caller may watch in run_step_updates; every member may be null.
struct StepUpdatesObserver {
  // Each phase as it starts ("old log-probs", "forward-backward",
  // "gradient all-reduce" or "gradient reduce-scatter", "optimizer",
  // "weight all-gather"): the step watchdog's.
  std::function<void(const char* phase)> phase;
  // Before update `update` (0, 1, … over the step's epochs and mini-batches)
  // computes anything; a test may set the weights here.
  std::function<void(int64_t update)> before_update;
  // Update `update`'s gradient after the all-reduce, before clipping (fp32;
  // not called at zero stage 2, where no rank holds the whole gradient).
  std::function<void(int64_t update, const std::vector<torch::Tensor>& reduced)> gradients_reduced;
};

struct StepUpdatesResult {
  PolicyUpdateResult totals;              // this rank's sums over every update (grad norms global)
  double old_log_prob_seconds = 0;        // the π_old pass (0 when skipped)
  double gradient_allreduce_seconds = 0;  // Σ over the updates
};

// `samples`: this rank's samples of the step (old_log_probs gets set when the
// pass runs). `statistics`: global (all_reduce done) over the step's groups.
// `step` picks the mini-batches with options().seed; every update uses
// `learning_rate`.
StepUpdatesResult run_step_updates(PolicyUpdater& updater, Communicator& communicator,
                                   std::vector<RolloutSample>& samples, const StepStatistics& statistics,
                                   int64_t step, double learning_rate, const StepUpdatesObserver& observer = {});

}  // namespace deltarl
