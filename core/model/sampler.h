// Token sampling: temperature and nucleus (top-p), with a per-sequence random
// stream, so the same seed and weights give the same tokens whatever else is
// in the batch. Temperature 0 is greedy (argmax, the first maximum; NaN counts
// as the largest, as torch's argmax).
//
// Everything runs on the logits' device: softmax, the nucleus's sort, the
// cumulative sums and the search, all in tensor ops, and only the chosen ids
// (and log-probs) come back to the host, one transfer per call.
//
// The seeding rule: a sampled row consumes exactly one draw of its own 64-bit
// generator (std::mt19937_64, a fixed algorithm, not LibTorch's, so draws do
// not change across LibTorch versions or devices) per token; a greedy row
// consumes none. The draw u ∈ [0, 1) is its top 53 bits × 2⁻⁵³. The token is
// the inverse CDF at u of p = softmax(logits / T) computed in fp32 and widened
// to fp64: the first token whose cumulative probability exceeds u (in
// vocabulary order when top_p = 1; in descending probability, ties in
// vocabulary order, with u scaled to the nucleus's mass when top_p < 1, the
// nucleus being the tokens whose preceding mass is below top_p).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <torch/types.h>

namespace deltarl {

struct SamplingParams {
  double temperature = 1.0;  // 0: greedy
  double top_p = 1.0;        // keep the smallest set of top tokens with mass >= top_p
  void validate() const;     // throws InputError: temperature < 0, top_p outside (0, 1]
};

// `logits` (vocab,) on any device; returns the chosen token id.
int64_t sample_token(const torch::Tensor& logits, const SamplingParams& params, std::mt19937_64& random);

// One token per row of `logits` (rows, vocab): row r with params[r] and
// random[r], exactly the token sample_token would draw for that row alone.
std::vector<int64_t> sample_tokens(const torch::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                   const std::vector<std::mt19937_64*>& random);

struct SampledTokens {
  std::vector<int64_t> tokens;
  std::vector<float> log_probs;  // log softmax(logits / log_prob_temperature) at each token, fp32
};

// sample_tokens, plus each chosen token's log-prob at row r's
// `log_prob_temperatures[r]` (> 0), computed on the device too.
SampledTokens sample_tokens_with_log_probs(const torch::Tensor& logits,
                                           const std::vector<const SamplingParams*>& params,
                                           const std::vector<std::mt19937_64*>& random,
                                           const std::vector<double>& log_prob_temperatures);

}  // namespace deltarl
