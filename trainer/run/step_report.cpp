#include "trainer/run/step_report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace deltarl {

MetricsRow step_metrics(const StepReport& r) {
  const double count = std::max(1.0, r.samples);
  const double tokens = std::max(1.0, r.loss_tokens);
  auto per_second = [](double amount, double seconds) { return amount / std::max(1e-9, seconds); };
  MetricsRow row = {
      {"reward/mean", r.reward_sum / count},
      {"reward/accuracy", r.correct / count},
      {"reward/unfiltered_mean", r.unfiltered_reward_mean},
      {"reward/unfiltered_accuracy", r.unfiltered_accuracy},
      {"response_length/mean", r.length_sum / count},
      {"response_length/max", r.length_max},
      {"response_length/truncated_fraction", r.truncated / count},
      {"actor/loss", r.loss},
      {"actor/clip_fraction", r.clipped_tokens / tokens},
      {"actor/clip_fraction_lower", r.lower_clipped_tokens / tokens},
      {"actor/entropy", r.entropy_sum / tokens},
      {"actor/kl", r.kl_sum / tokens},
      {"actor/ppo_kl", r.ppo_kl_sum / tokens},
      {"actor/ratio_max", r.ratio_max},
      {"actor/grad_norm", r.grad_norm},
      {"actor/lr", r.learning_rate},
      {"actor/updates", static_cast<double>(r.updates)},
      {"actor/update_skipped", static_cast<double>(r.skipped_updates)},
      {"rollout_correction/weight_mean", r.correction_weight_sum / tokens},
      {"rollout_correction/fraction_truncated", r.corrected_tokens / tokens},
      {"rollout/logprob_mismatch_mean", r.mismatch_sum / tokens},
      {"rollout/logprob_mismatch_max", r.mismatch_max},
      {"rollout/policy_version_lag_mean", r.version_lag_sum / count},
      {"rollout/policy_version_lag_max", r.version_lag_max},
      {"rollout/groups", static_cast<double>(r.groups)},
      {"rollout/groups_filtered", static_cast<double>(r.filtered_groups)},
      {"rollout/rounds", static_cast<double>(r.rounds)},
      {"rollout/live_workers", static_cast<double>(r.live_workers)},
      {"perf/generation_tokens_per_second", per_second(r.generated_tokens, r.generation_seconds)},
      {"perf/learner_tokens_per_second", per_second(r.trained_tokens, r.training_seconds)},
      {"perf/tokens_per_second", per_second(r.generated_tokens + r.trained_tokens, r.step_seconds)},
      {"time/generation", r.generation_seconds},
      {"time/training", r.training_seconds},
      {"time/statistics_allreduce", r.statistics_allreduce_seconds},
      {"time/old_log_probs", r.old_log_prob_seconds},
      {"time/gradient_allreduce", r.gradient_allreduce_seconds},
      {"time/weight_sync", r.weight_sync_seconds},
      {"time/step", r.step_seconds},
      {"policy_version", static_cast<double>(r.policy_version)},
  };
  row.insert(row.end(), r.evaluation.begin(), r.evaluation.end());
  return row;
}

std::string step_console_line(const StepReport& r, double eta_seconds) {
  const double count = std::max(1.0, r.samples);
  char line[512];
  std::snprintf(line, sizeof(line),
                "step %lld/%lld | reward %.3f acc %.3f | len %.1f (max %.0f) | gnorm %.3g | %.0f tok/s | "
                "gen %.1fs train %.1fs sync %.1fs | eta %s",
                static_cast<long long>(r.step), static_cast<long long>(r.total_steps), r.reward_sum / count,
                r.correct / count, r.length_sum / count, r.length_max, r.grad_norm,
                (r.generated_tokens + r.trained_tokens) / std::max(1e-9, r.step_seconds), r.generation_seconds,
                r.training_seconds, r.weight_sync_seconds, format_duration(eta_seconds).c_str());
  return line;
}

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(std::max(0.0, seconds));
  std::ostringstream text;
  if (total >= 3600) text << total / 3600 << "h";
  if (total >= 60) text << (total % 3600) / 60 << "m";
  text << total % 60 << "s";
  return text.str();
}

}  // namespace deltarl
