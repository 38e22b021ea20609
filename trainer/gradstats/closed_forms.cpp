#include "trainer/gradstats/closed_forms.h"

#include <cmath>
#include <stdexcept>

namespace deltarl {

double EstimatorMoments::coefficient_of_variation() const {
  return std::sqrt(variance) / std::fabs(expectation);
}

namespace {

// Σ L^p over the given lengths.
double power_sum(const std::vector<int64_t>& lengths, double p) {
  double sum = 0;
  for (int64_t length : lengths) sum += std::pow(static_cast<double>(length), p);
  return sum;
}

}  // namespace

EstimatorMoments closed_form_moments(const AggregationConfig& config,
                                     const std::vector<std::vector<int64_t>>& group_lengths,
                                     double beta, double gradient_mean, double token_variance) {
  std::vector<int64_t> all;
  for (const auto& group : group_lengths) all.insert(all.end(), group.begin(), group.end());
  if (all.empty()) throw std::invalid_argument("closed_form_moments: no samples");
  const double n = static_cast<double>(all.size());
  const double tokens = power_sum(all, 1.0);
  const double m = config.max_response_length;
  const double mu = gradient_mean, v = token_variance;
  EstimatorMoments moments;
  switch (config.mode) {
    case AggregationMode::kSeqMeanTokenMean:  // GRPO: (1/N) Σ g_i / L_i
      moments.expectation = mu * power_sum(all, -1.0) / n;
      moments.variance = v * power_sum(all, beta - 2.0) / (n * n);
      break;
    case AggregationMode::kTokenMean:  // DAPO: Σ g_i / Σ L
      moments.expectation = mu * n / tokens;
      moments.variance = v * power_sum(all, beta) / (tokens * tokens);
      break;
    case AggregationMode::kSeqMeanTokenSumNorm:  // Dr. GRPO: Σ g_i / (N M)
      moments.expectation = mu / m;
      moments.variance = v * power_sum(all, beta) / (n * n * m * m);
      break;
    case AggregationMode::kSeqMeanTokenSum:  // Σ g_i / N
      moments.expectation = mu;
      moments.variance = v * power_sum(all, beta) / (n * n);
      break;
    case AggregationMode::kDeltaL: {
      const double alpha = config.alpha;
      moments.expectation = mu / m;  // Σ_i x_i = 1/M for every α: unbiased.
      if (config.scope == DeltaLScope::kBatch) {
        const double norm = power_sum(all, -alpha);
        moments.variance = v * power_sum(all, beta - 2.0 * alpha) / (m * m * norm * norm);
      } else {
        const double groups = static_cast<double>(group_lengths.size());
        double sum = 0;
        for (const auto& group : group_lengths) {
          const double norm = power_sum(group, -alpha);
          sum += power_sum(group, beta - 2.0 * alpha) / (norm * norm);
        }
        moments.variance = v * sum / (m * m * groups * groups);
      }
      break;
    }
  }
  return moments;
}

}  // namespace deltarl
