// make_output_rows_dominant(): rewrites a model's output layer so that every
// token it samples, at any temperature up to 1 and greedy, is one of the ids
// [first_row, first_row + 2·hidden), for certain. For tests of ids a tokenizer
// has no text for (Qwen's padding rows) and of ids that break the next step.
//
// Why certain: the final norm's gain is set to 1, so the normed hidden state h
// has RMS ≈ 1 (x² ≫ eps here) and max_i |h_i| ≥ 0.99. Rows first_row + 2i and
// first_row + 2i + 1 become +k·e_i and −k·e_i, so the best of them has logit
// k·max_i |h_i| ≥ 0.99·k, while every other row r keeps |h·w_r| ≤ ‖h‖·‖w_r‖ ≤
// √hidden · max_r ‖w_r‖ (about 3.5 for the 0.02-std initialization). The helper
// checks a margin of 30 between the two, so any other id has probability below
// vocab · e^-30 (1e-10 at 768 ids) per token. k stays small (40) so that logits
// keep the worker's and the learner's log-probs within 1e-4 of each other.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <torch/torch.h>

#include "core/model/causal_lm.h"

namespace deltarl::testing_support {

inline void make_output_rows_dominant(CausalLM& model, int64_t first_row, double k = 40.0) {
  torch::NoGradGuard no_grad;
  ASSERT_FALSE(model->lm_head.is_empty()) << "needs an untied output layer (tie_word_embeddings false)";
  const int64_t hidden = model->config().hidden_size;
  torch::Tensor weight = model->lm_head->weight;  // (vocab, hidden)
  ASSERT_GE(weight.size(0), first_row + 2 * hidden);
  model->model->norm->weight.fill_(1.0);
  const torch::Tensor others = torch::cat({weight.narrow(0, 0, first_row),
                                           weight.narrow(0, first_row + 2 * hidden,
                                                         weight.size(0) - first_row - 2 * hidden)});
  const double others_bound = std::sqrt(static_cast<double>(hidden)) * others.norm(2, /*dim=*/1).max().item<double>();
  ASSERT_GE(0.99 * k - others_bound, 30.0) << "the other rows' logits may reach " << others_bound;
  weight.narrow(0, first_row, 2 * hidden).zero_();
  for (int64_t i = 0; i < hidden; ++i) {
    weight[first_row + 2 * i][i] = k;
    weight[first_row + 2 * i + 1][i] = -k;
  }
}

}  // namespace deltarl::testing_support
