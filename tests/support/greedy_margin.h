// smallest_greedy_margin(): how far above rounding a greedy path stands. A
// test that expects exact tokens (memorized text, greedy parity with
// transformers, a worker against a local model) asserts this margin too, so
// that only a real change can flip a token, not the last bits that another
// CPU's kernels or thread count change.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include <torch/torch.h>

#include "core/model/causal_lm.h"

namespace deltarl::testing_support {

// The smallest gap, over the positions of `continuation`, between the logit of
// the token it has there and the largest other logit, with `prompt` and the
// continuation's own tokens fed in (teacher forcing, one no-grad forward). A
// positive gap everywhere means greedy decoding from `prompt` gives
// `continuation`; a negative one names a position where it does not.
inline double smallest_greedy_margin(CausalLM& model, const std::vector<int64_t>& prompt,
                                     const std::vector<int64_t>& continuation) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids = prompt;
  ids.insert(ids.end(), continuation.begin(), continuation.end());
  const torch::Tensor input = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  const torch::Tensor logits = model->forward(input).squeeze(0).to(torch::kFloat64);  // (s, vocab)
  double smallest = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < continuation.size(); ++i) {
    const torch::Tensor row = logits[static_cast<int64_t>(prompt.size() + i) - 1].clone();
    const double chosen = row[continuation[i]].item<double>();
    row[continuation[i]] = -std::numeric_limits<double>::infinity();
    smallest = std::min(smallest, chosen - row.max().item<double>());
  }
  return smallest;
}

}  // namespace deltarl::testing_support
