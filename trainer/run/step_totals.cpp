#include "trainer/run/step_totals.h"

#include <algorithm>

#include <torch/torch.h>

namespace deltarl {

void add_sample_totals(const std::vector<RolloutSample>& all, uint64_t version_trained, StepReport* report) {
  for (const auto& sample : all) {
    const auto length = static_cast<double>(sample.response_ids.size());
    const double lag = static_cast<double>(version_trained) - static_cast<double>(sample.policy_version);
    report->reward_sum += sample.reward;
    report->correct += sample.correct;
    report->length_sum += length;
    report->length_max = std::max(report->length_max, length);
    report->truncated += sample.truncated;
    report->version_lag_sum += lag;
    report->version_lag_max = std::max(report->version_lag_max, lag);
    report->generated_tokens += length;
    report->trained_tokens += static_cast<double>(sample.tokens());
  }
  report->samples = static_cast<double>(all.size());
}

void gather_learner_totals(Communicator& host, const PolicyUpdateResult& local, bool stop_requested,
                           StepReport* report) {
  const torch::Tensor mine =
      torch::tensor({local.tokens, local.clipped_tokens, local.lower_clipped_tokens, local.entropy_sum, local.kl_sum,
                     local.ppo_kl_sum, local.mismatch_sum, local.correction_weight_sum, local.corrected_tokens,
                     local.loss, local.mismatch_max, local.ratio_max, stop_requested ? 1.0 : 0.0},
                    torch::kFloat64);
  const torch::Tensor all = host.all_gather(mine);  // (world, 13)
  const torch::Tensor sums = all.sum(0), maxima = std::get<0>(all.max(0));
  report->loss_tokens = sums[0].item<double>();
  report->clipped_tokens = sums[1].item<double>();
  report->lower_clipped_tokens = sums[2].item<double>();
  report->entropy_sum = sums[3].item<double>();
  report->kl_sum = sums[4].item<double>();
  report->ppo_kl_sum = sums[5].item<double>();
  report->mismatch_sum = sums[6].item<double>();
  report->correction_weight_sum = sums[7].item<double>();
  report->corrected_tokens = sums[8].item<double>();
  report->updates = local.updates;  // the same on every rank, as are the norms
  report->skipped_updates = local.skipped_updates;
  report->loss = sums[9].item<double>() / static_cast<double>(std::max<int64_t>(1, local.updates));
  report->mismatch_max = maxima[10].item<double>();
  report->ratio_max = maxima[11].item<double>();
  report->stop_requested = sums[12].item<double>() > 0;
  const int64_t made = local.updates - local.skipped_updates;
  report->grad_norm = made > 0 ? local.grad_norm_sum / static_cast<double>(made) : local.grad_norm;
}

}  // namespace deltarl
