// One optimizer step of the policy on this rank's share of a step's samples:
// micro-batched forward recomputing log-probs, the PPO-clip loss with each
// sample's global ΔL (or other mode's) weight and group advantage, backward;
// then gradient all-reduce (SUM), global grad-norm clipping and AdamW
// (shared/DESIGN.md §1, step 5–6). Reads top to bottom as the step does.
//
//   PolicyUpdater updater(model, reference, optimizer, options);
//   PolicyUpdateResult result = updater.update(my_samples, stats, communicator, lr);
#pragma once

#include <cstdint>
#include <vector>

#include "core/model/qwen2_model.h"
#include "trainer/algorithm/adamw.h"
#include "trainer/algorithm/advantage.h"
#include "trainer/algorithm/aggregation_config.h"
#include "trainer/comm/communicator.h"
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

// This rank's sums; PolicyUpdater::update() returns them, and the caller
// combines ranks with one all-gather (metric_vector()).
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
  double statistics_seconds = 0;  // the statistics all-reduce
  double forward_backward_seconds = 0;
  double gradient_sync_seconds = 0;
};

class PolicyUpdater {
 public:
  // `reference` may be null (no KL term). Keeps references to all arguments.
  PolicyUpdater(Qwen2ForCausalLM& model, Qwen2ForCausalLM* reference, AdamW& optimizer, PolicyUpdateOptions options);

  // `stats` must hold this rank's samples only (not yet all-reduced): update()
  // all-reduces it over `communicator` first. Collective: every rank calls it
  // once per step, also with no samples. `learning_rate` for this update.
  PolicyUpdateResult update(const std::vector<RolloutSample>& samples, StepStatistics& stats,
                            Communicator& communicator, double learning_rate);

 private:
  void accumulate_micro_batch(const std::vector<const RolloutSample*>& batch, const LossWeightTable& weights,
                              const AdvantageTable& advantages, PolicyUpdateResult& result);

  Qwen2ForCausalLM& model_;
  Qwen2ForCausalLM* reference_;
  AdamW& optimizer_;
  PolicyUpdateOptions options_;
  std::vector<torch::Tensor> parameters_;
};

}  // namespace deltarl
