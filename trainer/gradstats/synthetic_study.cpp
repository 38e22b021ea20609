#include "trainer/gradstats/synthetic_study.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/input_error.h"
#include "trainer/gradstats/length_distribution.h"
#include "trainer/algorithm/loss_aggregation.h"
#include "trainer/comm/single_process_communicator.h"
#include "trainer/algorithm/step_statistics.h"

namespace deltarl {

void SyntheticStudyOptions::validate() const {
  if (!std::isfinite(beta)) throw InputError("--beta must be a finite number");
  if (num_groups < 1) throw InputError("--groups must be >= 1");
  if (group_size < 1) throw InputError("--group-size must be >= 1");
  if (trials < 2) throw InputError("--trials must be >= 2");
  if (length_scales.empty()) throw InputError("--length-scales needs at least one scale");
  for (double scale : length_scales) {
    if (!(std::isfinite(scale) && scale > 0)) throw InputError("--length-scales must all be > 0");
  }
  if (!(std::isfinite(max_response_length) && max_response_length >= 0)) {
    throw InputError("--max-len must be > 0 (or 0 for the longest length)");
  }
  for (double alpha : delta_l_alphas) {
    if (!(std::isfinite(alpha) && alpha >= 0)) throw InputError("--alphas must all be >= 0");
  }
  if (!(std::isfinite(gradient_mean) && gradient_mean != 0)) {
    throw InputError("the gradient mean must be finite and non-zero");
  }
  if (!(std::isfinite(token_variance) && token_variance > 0)) {
    throw InputError("the token variance must be > 0");
  }
}

namespace {

std::vector<EstimatorStudy> estimators_to_study(const SyntheticStudyOptions& options, double m) {
  auto make = [m](const std::string& label, AggregationMode mode, bool unbiased) {
    EstimatorStudy study;
    study.label = label;
    study.config.mode = mode;
    study.config.max_response_length = m;
    study.unbiased_by_construction = unbiased;
    return study;
  };
  std::vector<EstimatorStudy> studies = {
      make("GRPO", AggregationMode::kSeqMeanTokenMean, false),
      make("DAPO", AggregationMode::kTokenMean, false),
      make("Dr. GRPO", AggregationMode::kSeqMeanTokenSumNorm, true),
      make("seq-mean-token-sum", AggregationMode::kSeqMeanTokenSum, true),
  };
  for (double alpha : options.delta_l_alphas) {
    char label[64];
    std::snprintf(label, sizeof(label), "dL a=%g", alpha);
    EstimatorStudy study = make(label, AggregationMode::kDeltaL, true);
    study.config.alpha = alpha;
    study.config.scope = options.delta_l_scope;
    studies.push_back(study);
  }
  return studies;
}

std::vector<std::vector<int64_t>> scaled(const std::vector<std::vector<int64_t>>& lengths,
                                         double scale) {
  std::vector<std::vector<int64_t>> result = lengths;
  for (auto& group : result) {
    for (auto& length : group) {
      length = std::max<int64_t>(1, static_cast<int64_t>(std::llround(length * scale)));
    }
  }
  return result;
}

// Weights of `config` for these lengths, through the trainer's own code path.
std::vector<double> trainer_weights(const AggregationConfig& config,
                                    const std::vector<std::vector<int64_t>>& lengths) {
  SingleProcessCommunicator communicator;
  StepStatistics stats(static_cast<int64_t>(lengths.size()), config.alpha);
  for (size_t g = 0; g < lengths.size(); ++g) {
    for (int64_t length : lengths[g]) stats.add_sample(static_cast<int64_t>(g), length, 0.0);
  }
  stats.all_reduce(communicator);
  std::vector<double> weights;
  for (size_t g = 0; g < lengths.size(); ++g) {
    for (int64_t length : lengths[g]) {
      weights.push_back(sample_weight(config, stats, static_cast<int64_t>(g), length));
    }
  }
  return weights;
}

}  // namespace

SyntheticStudyResult run_synthetic_study(const SyntheticStudyOptions& options) {
  options.validate();
  const LengthDistribution distribution = LengthDistribution::parse(options.length_spec);
  std::mt19937_64 generator(options.seed);

  SyntheticStudyResult result;
  result.options = options;
  int64_t longest = 1;
  for (int64_t g = 0; g < options.num_groups; ++g) {
    result.base_lengths.push_back(distribution.draw(options.group_size, generator));
    for (int64_t length : result.base_lengths.back()) longest = std::max(longest, length);
  }
  const double largest_scale = *std::max_element(options.length_scales.begin(), options.length_scales.end());
  result.max_response_length = options.max_response_length > 0
                                   ? options.max_response_length
                                   : std::ceil(static_cast<double>(longest) * largest_scale);
  result.estimators = estimators_to_study(options, result.max_response_length);

  const size_t samples = static_cast<size_t>(options.num_groups * options.group_size);
  const double mu = options.gradient_mean;
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> noise(samples);
  for (double scale : options.length_scales) {
    const auto lengths = scaled(result.base_lengths, scale);
    std::vector<double> noise_scale;  // sqrt(V · L_i^β), per sample
    for (const auto& group : lengths) {
      for (int64_t length : group) {
        noise_scale.push_back(std::sqrt(options.token_variance * std::pow(double(length), options.beta)));
      }
    }
    // ĝ_e = μ Σ_i w_{e,i} + Σ_i (w_{e,i} · noise_scale_i) z_i
    std::vector<double> signal;
    std::vector<std::vector<double>> noise_weights;
    for (auto& study : result.estimators) {
      const std::vector<double> weights = trainer_weights(study.config, lengths);
      double weight_sum = 0;
      std::vector<double> per_sample(samples);
      for (size_t i = 0; i < samples; ++i) {
        weight_sum += weights[i];
        per_sample[i] = weights[i] * noise_scale[i];
      }
      signal.push_back(mu * weight_sum);
      noise_weights.push_back(std::move(per_sample));
      study.closed_form.push_back(closed_form_moments(study.config, lengths, options.beta, mu,
                                                      options.token_variance));
    }
    // Welford's running mean and sum of squared deviations, per estimator.
    std::vector<double> mean(result.estimators.size(), 0.0), squares(result.estimators.size(), 0.0);
    for (int64_t trial = 0; trial < options.trials; ++trial) {
      for (auto& z : noise) z = normal(generator);
      for (size_t e = 0; e < result.estimators.size(); ++e) {
        double estimate = signal[e];
        for (size_t i = 0; i < samples; ++i) estimate += noise_weights[e][i] * noise[i];
        const double delta = estimate - mean[e];
        mean[e] += delta / static_cast<double>(trial + 1);
        squares[e] += delta * (estimate - mean[e]);
      }
    }
    for (size_t e = 0; e < result.estimators.size(); ++e) {
      EstimatorMoments measured;
      measured.expectation = mean[e];
      measured.variance = squares[e] / static_cast<double>(options.trials - 1);
      result.estimators[e].monte_carlo.push_back(measured);
    }
  }
  return result;
}

}  // namespace deltarl
