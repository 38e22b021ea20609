// PolicyUpdater: one optimizer step of the policy, in the stages the training
// step calls one by one (TrainingRun::run_step), so that the collectives
// between them stay visible at the call site:
//
//   updater.start();                                            // train mode, zero gradients
//   for (micro_batch : micro_batches(samples, size))            // forward recomputing log-probs,
//     updater.accumulate(micro_batch, weights, advantages, &r); // PPO-clip loss with each sample's
//                                                               // global ΔL weight, backward
//   std::vector<torch::Tensor> g = updater.gradients();
//   communicator.all_reduce_sum(g);                             // SUM: the weights are already global
//   updater.clip_and_step(g, learning_rate, &r);                // global norm, clip, AdamW
#pragma once

#include <cstdint>
#include <vector>

#include "core/model/qwen2_model.h"
#include "trainer/algorithm/adamw.h"
#include "trainer/algorithm/advantage.h"
#include "trainer/algorithm/aggregation_config.h"
#include "trainer/algorithm/loss_aggregation.h"
#include "trainer/algorithm/policy_loss.h"
#include "trainer/algorithm/rollout_sample.h"
#include "trainer/algorithm/step_statistics.h"

namespace deltarl {

struct PolicyUpdateOptions {
  AggregationConfig aggregation;          // validated, with M set
  AdvantageEstimator advantage = AdvantageEstimator::kGrpo;
  PolicyLossOptions loss;
  double temperature = 1.0;               // log-probs of logits / T, as the workers sampled
  bool old_log_probs_from_rollout = false;  // else the learner's own (detached), ratio 1 on-policy
  int64_t micro_batch_size = 8;
  double grad_clip = 1.0;                 // 0: no clipping
};

// This rank's sums over its micro-batches; the caller combines ranks.
struct PolicyUpdateResult {
  double tokens = 0;            // valid response tokens trained on
  double clipped_tokens = 0;
  double entropy_sum = 0;
  double kl_sum = 0;
  double mismatch_sum = 0;      // Σ |learner log-prob − rollout log-prob|
  double mismatch_max = 0;
  double ratio_max = 0;
  double loss = 0;              // Σ of the weighted loss (this rank's part of J)
  double grad_norm = 0;         // global, before clipping (identical on all ranks)
  bool skipped = false;         // the gradient was not finite: no update was made
};

// `samples` in consecutive runs of at most `size` (the last may be shorter).
std::vector<std::vector<const RolloutSample*>> micro_batches(const std::vector<RolloutSample>& samples,
                                                             int64_t size);

class PolicyUpdater {
 public:
  // `reference` may be null (no KL term). Keeps references to all arguments.
  PolicyUpdater(Qwen2ForCausalLM& model, Qwen2ForCausalLM* reference, AdamW& optimizer, PolicyUpdateOptions options);

  const PolicyUpdateOptions& options() const { return options_; }

  // Train mode and zeroed gradients: before the first micro-batch of a step.
  void start();

  // Forward and backward of one micro-batch of this rank's samples; adds to the
  // gradients and to `result`'s sums. Not collective.
  void accumulate(const std::vector<const RolloutSample*>& micro_batch, const LossWeightTable& weights,
                  const AdvantageTable& advantages, PolicyUpdateResult* result);

  // The parameters' gradients, to be reduced in place across ranks; a
  // parameter without one gets zeros (a rank without samples still joins).
  std::vector<torch::Tensor> gradients();

  // With `gradients` reduced: their global norm, no update when it is not
  // finite (identical on every rank: all skip together), clipping to
  // grad_clip, then AdamW at `learning_rate`. Sets grad_norm and skipped.
  void clip_and_step(const std::vector<torch::Tensor>& gradients, double learning_rate, PolicyUpdateResult* result);

 private:
  Qwen2ForCausalLM& model_;
  Qwen2ForCausalLM* reference_;
  AdamW& optimizer_;
  PolicyUpdateOptions options_;
  std::vector<torch::Tensor> parameters_;
};

}  // namespace deltarl
