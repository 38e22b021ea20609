// Token sampling: temperature and nucleus (top-p), with a per-sequence random
// stream, so the same seed and weights give the same tokens whatever else is
// in the batch. Temperature 0 is greedy (argmax). The draw uses its own
// 64-bit generator (std::mt19937_64, a fixed algorithm), not LibTorch's, so
// results do not change across LibTorch versions or devices.
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
// Greedy rows cost one pass over memory; the sampled rows share one softmax.
std::vector<int64_t> sample_tokens(const torch::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                   const std::vector<std::mt19937_64*>& random);

}  // namespace deltarl
