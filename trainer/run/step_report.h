// StepReport: what one training step did, as TrainingRun::run_step returns it.
// The step only measures; the metrics row (metrics.jsonl, TensorBoard) and the
// console line are built from the report afterwards, outside the step.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace deltarl {

using MetricsRow = std::vector<std::pair<std::string, double>>;

struct StepReport {
  int64_t step = 0;
  int64_t total_steps = 0;
  double learning_rate = 0;
  uint64_t policy_version = 0;  // what the workers serve after the step

  // The step's samples, over all ranks.
  double samples = 0;
  double reward_sum = 0, correct = 0;
  double length_sum = 0, length_max = 0, truncated = 0;
  double version_lag_sum = 0, version_lag_max = 0;  // behind policy_version - 1
  double generated_tokens = 0;  // response tokens
  double trained_tokens = 0;    // prompt + response tokens
  int64_t groups = 0, filtered_groups = 0, rounds = 0;
  double unfiltered_reward_mean = 0, unfiltered_accuracy = 0;
  int64_t live_workers = 0;

  // The learners' sums over all ranks and over the step's updates (a token
  // trained in two updates counts twice).
  double loss_tokens = 0, clipped_tokens = 0, lower_clipped_tokens = 0, entropy_sum = 0, kl_sum = 0;
  double ppo_kl_sum = 0, mismatch_sum = 0, mismatch_max = 0, ratio_max = 0;
  double correction_weight_sum = 0, corrected_tokens = 0;
  double loss = 0;              // mean over the updates of each update's J
  double grad_norm = 0;         // mean over the updates made of the norm before clipping
  int64_t updates = 0, skipped_updates = 0;

  // Seconds.
  double generation_seconds = 0, training_seconds = 0, statistics_allreduce_seconds = 0, old_log_prob_seconds = 0;
  double gradient_allreduce_seconds = 0, weight_sync_seconds = 0;
  double step_seconds = 0;  // set by the run: the step with its evaluation

  bool stop_requested = false;  // some rank has a stop signal: this is the last step
  MetricsRow evaluation;        // held-out metrics, when the run evaluated after the step
};

// The metrics of a step, by name (docs/training.md lists them).
MetricsRow step_metrics(const StepReport& report);

// "step 3/10 | reward 0.312 acc 0.250 | len 41.2 (max 128) | ... | eta 2m5s".
std::string step_console_line(const StepReport& report, double eta_seconds);

// "1h2m5s", "2m5s", "5s".
std::string format_duration(double seconds);

}  // namespace deltarl
