// PolicyUpdater: the PPO updates of one step, in the stages the step calls one
// by one (run_step_updates in trainer/algorithm/step_updates.h, which
// TrainingRun::run_step and `deltarl update` drive), so that the collectives
// between them stay visible at the call site:
//
//   for (micro_batch of my samples)                             // π_old, when the step makes
//     updater.compute_old_log_probs(micro_batch);               // more than one update
//   for (epoch, mini-batch):                                    // ppo_mini_batches.h
//     updater.start();                                          // train mode, zeroed flat gradient
//     for (micro_batch : micro_batches(mini_batch, size))       // forward recomputing log-probs,
//       updater.accumulate(micro_batch, weights, advantages, &r); // PPO-clip loss with each sample's
//                                                               // global ΔL weight, backward
//     communicator.all_reduce_sum(updater.flat_gradients().buckets(bytes));  // SUM: the weights are
//                                                               // already global (stage 2: reduce-scatter)
//     updater.clip_and_step(global_square_sum, learning_rate, &r);  // global norm, clip, AdamW
//
// Gradients accumulate in fp32 in FlatGradients whatever the weights' dtype
// (Note [ZeRO stages], flat_gradients.h, for options.zero_stage).
#pragma once

#include <cstdint>
#include <vector>

#include "core/model/causal_lm.h"
#include "trainer/algorithm/adamw.h"
#include "trainer/algorithm/advantage.h"
#include "trainer/algorithm/aggregation_config.h"
#include "trainer/algorithm/flat_gradients.h"
#include "trainer/algorithm/loss_aggregation.h"
#include "trainer/algorithm/micro_batches.h"
#include "trainer/algorithm/policy_loss.h"
#include "trainer/algorithm/rollout_correction.h"
#include "trainer/algorithm/rollout_sample.h"
#include "trainer/algorithm/step_statistics.h"

namespace deltarl {

struct PolicyUpdateOptions {
  AggregationConfig aggregation;          // validated, with M set
  AdvantageEstimator advantage = AdvantageEstimator::kGrpo;
  PolicyLossOptions loss;
  double temperature = 1.0;               // log-probs of logits / T, as the workers sampled
  bool old_log_probs_from_rollout = false;  // else the learner's own (π_old pass, or detached on-policy)
  RolloutCorrectionOptions rollout_correction;  // needs the learner's π_old
  MicroBatching micro_batching;           // samples (or padded tokens) per forward/backward
  int64_t logits_chunk_tokens = 0;        // > 0: the output layer in chunks of this many tokens
  int64_t groups_per_mini_batch = 0;      // prompt groups per update; 0: all of the step's
  int64_t epochs = 1;                     // passes over the step's mini-batches
  uint64_t seed = 1;                      // with the step and epoch, picks the mini-batches
  double grad_clip = 1.0;                 // 0: no clipping
  int64_t zero_stage = 0;                 // Note [ZeRO stages]: 1, 2 need an AdamW sharded over the ranks

  // Throws InputError naming the key (algorithm.ppo_epochs, …) for epochs < 1,
  // a cap ≤ 1, clip_ratio_c ≤ 1, or a rollout correction with π_old from the
  // rollout (the correction compares the two).
  void validate() const;
};

// This rank's sums over its micro-batches and over the step's updates (a
// token trained in two updates counts twice); the caller combines ranks.
struct PolicyUpdateResult {
  double tokens = 0;            // valid response tokens trained on
  double clipped_tokens = 0;
  double lower_clipped_tokens = 0;  // the dual clip's
  double entropy_sum = 0;
  double kl_sum = 0;            // k3 to the reference
  double ppo_kl_sum = 0;        // Σ (π_old − π) log-probs
  double mismatch_sum = 0;      // Σ |π_old log-prob − rollout log-prob|
  double mismatch_max = 0;
  double ratio_max = 0;
  double correction_weight_sum = 0;     // Σ of the rollout correction's weights (tokens without one)
  double corrected_tokens = 0;          // truncated or masked by the rollout correction
  double loss = 0;              // Σ of the weighted loss (this rank's part of each update's J)
  // Set by clip_and_step, identical on all ranks:
  int64_t updates = 0;          // optimizer updates attempted
  int64_t skipped_updates = 0;  // of them, with a non-finite gradient: no update was made
  double grad_norm_sum = 0;     // Σ of each update's global norm before clipping
  double grad_norm = 0;         // the last update's
  bool skipped = false;         // the last update was skipped
};

class PolicyUpdater {
 public:
  // `reference` may be null (no KL term). Keeps references to all arguments.
  // `optimizer` holds `model`'s parameters; at zero_stage ≥ 1 it may be sharded.
  PolicyUpdater(CausalLM& model, CausalLM* reference, AdamW& optimizer, PolicyUpdateOptions options);

  const PolicyUpdateOptions& options() const { return options_; }

  // Whether a step of `num_groups` groups needs the π_old pass: it makes more
  // than one update and π_old is the learner's. A single on-policy update's
  // π_old is its own forward, detached.
  bool needs_old_log_probs(int64_t num_groups) const;

  // The π_old pass over one micro-batch: sets each sample's old_log_probs from
  // a forward on the training path (gradients on, then detached; with
  // gradients off the model would take its fused inference path, whose
  // rounding differs from the updates' forwards). Not collective.
  void compute_old_log_probs(const std::vector<RolloutSample*>& micro_batch);

  // Train mode and zeroed gradients: before the first micro-batch of an update.
  void start();

  // Forward and backward of one micro-batch of this rank's samples; adds to the
  // flat fp32 gradient and to `result`'s sums. π_old is the sample's old_log_probs when
  // set, else the rollout's (old_log_probs_from_rollout), else this forward's,
  // detached. Not collective.
  void accumulate(const std::vector<const RolloutSample*>& micro_batch, const LossWeightTable& weights,
                  const AdvantageTable& advantages, PolicyUpdateResult* result);

  // The update's flat fp32 gradient (this rank's sum until reduced).
  FlatGradients& flat_gradients() { return gradients_; }
  // Views of the flat gradient shaped as the parameters (not after a stage-2
  // reduce-scatter, which frees it).
  std::vector<torch::Tensor> gradients() { return gradients_.per_parameter(); }
  AdamW& optimizer() { return optimizer_; }

  // With the gradient reduced and `square_sum` its global Σ g²: the global
  // norm, no update when it is not finite (identical on every rank: all skip
  // together), clipping to grad_clip, then AdamW at `learning_rate` on this
  // rank's shard. Counts the update in `result`. Not collective: a sharded
  // optimizer's weights are then all-gathered by the caller.
  void clip_and_step(double square_sum, double learning_rate, PolicyUpdateResult* result);

 private:
  CausalLM& model_;
  CausalLM* reference_;
  AdamW& optimizer_;
  PolicyUpdateOptions options_;
  FlatGradients gradients_;
};

}  // namespace deltarl
