// The sampler: draws from the exact temperature-scaled, nucleus-truncated
// distribution (by a chi-square test whose power against a sampler that ignores
// temperature or top-p is checked too), draws each row as its own stream would
// alone, follows the documented inverse-CDF rule token for token, returns the
// chosen tokens' log-probs, and draws the same distribution on a CUDA device.
#include "core/model/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <torch/torch.h>

#include "core/input_error.h"
#include "core/model/token_log_probs.h"

namespace deltarl {
namespace {

TEST(Sampler, DrawsFromTheTemperatureScaledDistribution) {
  // p ∝ exp(logit / T): logits log(1), log(2), log(3), log(4) at T = 1 → 0.1 … 0.4.
  const torch::Tensor logits = torch::log(torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}));
  std::mt19937_64 random(5);
  std::vector<int> counts(4, 0);
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(sample_token(logits, {1.0, 1.0}, random))];
  for (int k = 0; k < 4; ++k) {
    const double p = (k + 1) / 10.0;
    EXPECT_NEAR(counts[k] / double(draws), p, 4 * std::sqrt(p * (1 - p) / draws)) << "token " << k;
  }
  // top_p = 0.7 keeps {0.4, 0.3}: tokens 0 and 1 never appear.
  std::vector<int> nucleus(4, 0);
  for (int i = 0; i < 5000; ++i) ++nucleus[static_cast<size_t>(sample_token(logits, {1.0, 0.7}, random))];
  EXPECT_EQ(nucleus[0] + nucleus[1], 0);
  EXPECT_NEAR(nucleus[3] / 5000.0, 4.0 / 7.0, 0.03);
  EXPECT_EQ(sample_token(logits, {0.0, 1.0}, random), 3);  // greedy
}

TEST(Sampler, ABatchDrawsEachRowAsItsOwnStreamWouldAlone) {
  // Rows with mixed options in one call: greedy, T = 0.7, nucleus, T = 1.5.
  torch::manual_seed(3);
  const torch::Tensor logits = torch::randn({4, 300}) * 3;
  const std::vector<SamplingParams> options = {{0.0, 1.0}, {0.7, 1.0}, {1.0, 0.8}, {1.5, 1.0}};
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<std::mt19937_64> batched, alone;
    std::vector<const SamplingParams*> params;
    std::vector<std::mt19937_64*> streams;
    for (size_t r = 0; r < options.size(); ++r) {
      batched.emplace_back(seed * 10 + r);
      alone.emplace_back(seed * 10 + r);
    }
    for (size_t r = 0; r < options.size(); ++r) {
      params.push_back(&options[r]);
      streams.push_back(&batched[r]);
    }
    const std::vector<int64_t> chosen = sample_tokens(logits, params, streams);
    for (size_t r = 0; r < options.size(); ++r) {
      EXPECT_EQ(chosen[r], sample_token(logits[static_cast<int64_t>(r)], options[r], alone[r])) << "row " << r;
      EXPECT_EQ(batched[r](), alone[r]()) << "row " << r << " consumed a different number of draws";
    }
  }
  // Against an independent reference of the draw (as the sampler was written
  // before batching): p = softmax(logits / T) in fp32, widened to fp64, then
  // the inverse CDF at a uniform from 53 random bits.
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const SamplingParams warm{0.7, 1.0};
    std::mt19937_64 stream(seed), reference_stream(seed);
    const torch::Tensor row = logits[seed % 4];
    const torch::Tensor p = torch::softmax(row / 0.7, /*dim=*/0).to(torch::kFloat64);
    const double u = static_cast<double>(reference_stream() >> 11) * 0x1.0p-53;
    int64_t expected = 0;
    double cumulative = p[0].item<double>();
    while (u >= cumulative && expected + 1 < p.numel()) cumulative += p[++expected].item<double>();
    EXPECT_EQ(sample_tokens(row.unsqueeze(0), {&warm}, {&stream}).front(), expected) << "seed " << seed;
  }
  // Greedy picks the first of tied maxima, and a NaN, as argmax does.
  const torch::Tensor tied = torch::tensor({{1.0f, 5.0f, 5.0f, 2.0f}});
  std::mt19937_64 unused(0);
  const SamplingParams greedy{0.0, 1.0};
  EXPECT_EQ(sample_tokens(tied, {&greedy}, {&unused}).front(), 1);
  const torch::Tensor with_nan = torch::tensor({{1.0f, 9.0f, NAN, 9.0f, NAN}});
  EXPECT_EQ(sample_tokens(with_nan, {&greedy}, {&unused}).front(), with_nan.argmax(/*dim=*/-1).item<int64_t>());
  EXPECT_THROW(sample_tokens(tied, {&greedy, &greedy}, {&unused}), c10::Error);
}

TEST(Sampler, RejectsAbsurdParameters) {
  EXPECT_THROW((SamplingParams{-1.0, 1.0}.validate()), InputError);
  EXPECT_THROW((SamplingParams{1.0, 0.0}.validate()), InputError);
  EXPECT_THROW((SamplingParams{1.0, 1.5}.validate()), InputError);
}

// The exact distribution the rule defines, in fp64 from the logits: softmax at
// temperature T, then the tokens whose preceding mass (descending) is below
// top_p, renormalized.
std::vector<double> exact_distribution(const std::vector<double>& logits, double temperature, double top_p) {
  std::vector<double> p(logits.size());
  const double peak = *std::max_element(logits.begin(), logits.end());
  for (size_t i = 0; i < p.size(); ++i) p[i] = std::exp((logits[i] - peak) / temperature);
  const double total = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= total;
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  std::vector<double> kept(p.size(), 0.0);
  double preceding = 0;
  for (size_t i : order) {
    if (preceding >= top_p) break;
    kept[i] = p[i];
    preceding += p[i];
  }
  for (double& x : kept) x /= preceding;
  return kept;
}

// Counts of `draws` tokens, drawn `rows` at a time, each row its own stream.
std::vector<int64_t> draw_counts(const torch::Tensor& logits_row, const SamplingParams& params, int64_t draws,
                                 uint64_t seed) {
  const int64_t rows = 500;
  const torch::Tensor logits = logits_row.unsqueeze(0).expand({rows, logits_row.size(0)});
  std::vector<std::mt19937_64> streams;
  for (int64_t r = 0; r < rows; ++r) streams.emplace_back(seed * 1000 + static_cast<uint64_t>(r));
  std::vector<std::mt19937_64*> stream_pointers;
  for (auto& stream : streams) stream_pointers.push_back(&stream);
  const std::vector<const SamplingParams*> all(static_cast<size_t>(rows), &params);
  std::vector<int64_t> counts(static_cast<size_t>(logits_row.size(0)), 0);
  for (int64_t done = 0; done < draws; done += rows) {
    for (int64_t token : sample_tokens(logits, all, stream_pointers)) ++counts[static_cast<size_t>(token)];
  }
  return counts;
}

// Pearson's statistic of `counts` against `expected` probabilities; a token
// the distribution excludes but that was drawn makes it infinite.
double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& expected) {
  const double total = static_cast<double>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  double statistic = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0) {
      if (counts[i] > 0) return INFINITY;
      continue;
    }
    const double e = total * expected[i];
    statistic += (counts[i] - e) * (counts[i] - e) / e;
  }
  return statistic;
}

// The chi-square quantile that a correct sampler exceeds with probability
// 1e-6 (Wilson–Hilferty, z = 4.753): the seeds are fixed, so a pass is
// deterministic, and a failure means a wrong distribution, not bad luck.
double critical_value(int degrees_of_freedom) {
  const double k = degrees_of_freedom, a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + 4.753 * std::sqrt(a), 3.0);
}

int support(const std::vector<double>& p) {
  return static_cast<int>(std::count_if(p.begin(), p.end(), [](double x) { return x > 0; }));
}

struct DistributionCase {
  SamplingParams params;
  SamplingParams broken;  // what a sampler ignoring one option would draw with
  const char* what;
};

void expect_draws_match_the_exact_distribution(torch::Device device) {
  const std::vector<double> logit_values = {1.2, -0.3, 2.0, 0.4, 1.9, -1.5, 0.0, 0.9};
  const torch::Tensor logits = torch::tensor(logit_values, torch::kFloat32).to(device);
  const std::vector<DistributionCase> cases = {
      {{0.7, 1.0}, {1.0, 1.0}, "temperature 0.7, ignoring temperature"},
      {{1.6, 1.0}, {1.0, 1.0}, "temperature 1.6, ignoring temperature"},
      {{1.0, 0.8}, {1.0, 1.0}, "top_p 0.8, ignoring top_p"},
      {{1.3, 0.6}, {1.0, 0.6}, "temperature 1.3 and top_p 0.6, ignoring temperature"},
      {{1.3, 0.6}, {1.3, 1.0}, "temperature 1.3 and top_p 0.6, ignoring top_p"},
  };
  const int64_t draws = 50000;
  uint64_t seed = 1;
  for (const DistributionCase& c : cases) {
    const std::vector<double> expected = exact_distribution(logit_values, c.params.temperature, c.params.top_p);
    const double critical = critical_value(support(expected) - 1);
    const std::vector<int64_t> counts = draw_counts(logits, c.params, draws, seed++);
    EXPECT_LT(chi_square(counts, expected), critical) << c.what << " on " << device;
    // The test's power: a sampler that ignored the option would have drawn
    // these, and the same check rejects them.
    const std::vector<int64_t> broken = draw_counts(logits, c.broken, draws, seed++);
    EXPECT_GT(chi_square(broken, expected), critical) << c.what << " on " << device;
  }
}

TEST(Sampler, DrawsMatchTheExactDistributionByChiSquare) { expect_draws_match_the_exact_distribution(torch::kCPU); }

TEST(Sampler, NucleusRowsFollowTheDocumentedRuleTokenForToken) {
  // The rule of sampler.h as a plain loop: fp32 softmax widened to fp64, sorted
  // descending, the nucleus (preceding mass below top_p), u × its mass, the
  // first token whose running sum exceeds that.
  torch::manual_seed(11);
  const torch::Tensor logits = torch::randn({300}) * 2;
  for (double top_p : {0.3, 0.9, 0.999}) {
    const SamplingParams params{0.8, top_p};
    for (uint64_t seed = 0; seed < 40; ++seed) {
      std::mt19937_64 stream(seed), reference_stream(seed);
      torch::Tensor sorted, order;
      std::tie(sorted, order) =
          torch::softmax(logits / 0.8f, /*dim=*/0).to(torch::kFloat64).sort(/*stable=*/true, 0, true);
      const double* mass = sorted.data_ptr<double>();
      int64_t kept = 0;
      double kept_mass = 0;
      while (kept < sorted.numel() && (kept == 0 || kept_mass < top_p)) kept_mass += mass[kept++];
      const double u = static_cast<double>(reference_stream() >> 11) * 0x1.0p-53 * kept_mass;
      int64_t position = 0;
      double cumulative = mass[0];
      while (u >= cumulative && position + 1 < kept) cumulative += mass[++position];
      EXPECT_EQ(sample_token(logits, params, stream), order[position].item<int64_t>())
          << "top_p " << top_p << " seed " << seed;
    }
  }
}

TEST(Sampler, LogProbsAreTheChosenTokensAtEachRowsTemperature) {
  torch::manual_seed(5);
  const torch::Tensor logits = torch::randn({3, 50}) * 3;
  const std::vector<SamplingParams> options = {{0.0, 1.0}, {0.6, 0.9}, {1.4, 1.0}};
  const std::vector<double> temperatures = {1.0, 0.6, 1.4};
  std::vector<std::mt19937_64> streams = {std::mt19937_64(1), std::mt19937_64(2), std::mt19937_64(3)};
  std::vector<std::mt19937_64> again = streams;
  const std::vector<const SamplingParams*> params = {&options[0], &options[1], &options[2]};
  const SampledTokens sampled =
      sample_tokens_with_log_probs(logits, params, {&streams[0], &streams[1], &streams[2]}, temperatures);
  EXPECT_EQ(sampled.tokens, sample_tokens(logits, params, {&again[0], &again[1], &again[2]}));
  for (int64_t r = 0; r < 3; ++r) {
    const torch::Tensor expected =
        token_log_probs(logits[r], torch::tensor(sampled.tokens[static_cast<size_t>(r)]), temperatures[r]);
    EXPECT_NEAR(sampled.log_probs[static_cast<size_t>(r)], expected.item<float>(), 1e-6) << "row " << r;
  }
  EXPECT_THROW(sample_tokens_with_log_probs(logits, params, {&streams[0], &streams[1], &streams[2]}, {1.0, 1.0}),
               c10::Error);
}

// Label gpu (tests/core/CMakeLists.txt): skips without a CUDA device.
TEST(SamplerCuda, DrawsTheExactDistributionAndTheCpusGreedyTokensAndLogProbs) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  expect_draws_match_the_exact_distribution(torch::kCUDA);
  torch::manual_seed(2);
  const torch::Tensor logits = torch::randn({16, 1000}) * 4;
  const SamplingParams greedy{0.0, 1.0};
  const std::vector<const SamplingParams*> params(16, &greedy);
  std::vector<std::mt19937_64> streams(16);
  std::vector<std::mt19937_64*> pointers;
  for (auto& stream : streams) pointers.push_back(&stream);
  const std::vector<double> temperatures(16, 1.0);
  const SampledTokens on_cpu = sample_tokens_with_log_probs(logits, params, pointers, temperatures);
  const SampledTokens on_gpu = sample_tokens_with_log_probs(logits.to(torch::kCUDA), params, pointers, temperatures);
  EXPECT_EQ(on_gpu.tokens, on_cpu.tokens);
  for (size_t r = 0; r < 16; ++r) EXPECT_NEAR(on_gpu.log_probs[r], on_cpu.log_probs[r], 1e-5);
}

}  // namespace
}  // namespace deltarl
