// The output layer's per-token results without the full-vocabulary logits:
// for each row of hidden states, the chosen token's log-probability and the
// entropy of softmax(hidden · weightᵀ / T), computed `chunk_tokens` rows at a
// time. Only one chunk's (chunk_tokens, vocab) logits exist at once, forward
// and backward: backward recomputes each chunk's logits from the hidden states
// and the weight it kept (which are alive anyway), instead of autograd keeping
// the (tokens, vocab) fp32 logits and their softmax.
//
//   ChunkedTokenOutputs out = chunked_output_layer(hidden, model->output_weight(), targets, T, 1024);
//   out.log_probs, out.entropy   // (…) fp32, as token_log_probs / token_entropy of the full logits
//
// The numbers are those of the unchunked path (logits = linear(hidden, weight)
// in the weight's dtype, then fp32, / T, log_softmax), to rounding: the
// chunked and whole products may sum in different orders
// (tests/core/model/chunked_output_layer_test.cpp holds them within 1e-6
// relative in fp32, with a ragged last chunk). The weight's gradient is summed
// over chunks in fp32 and cast to the weight's dtype once, or, given a
// weight_gradient_buffer, added into that buffer instead of being returned
// (Megatron-LM's gradient-accumulation fusion): no (vocab, h) gradient tensor
// is made, and autograd never has to sum it with a tied embedding's gradient.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace deltarl {

struct ChunkedTokenOutputs {
  torch::Tensor log_probs;  // (…) fp32: log_softmax(logits / T)[token]
  torch::Tensor entropy;    // (…) fp32: −Σ p log p of softmax(logits / T)
};

// hidden (…, h), any float dtype; weight (vocab, h) in the same dtype; tokens
// (…) int64 with hidden's leading shape. chunk_tokens ≥ 1: rows per chunk.
// Differentiable in hidden and weight through both outputs (an output whose
// gradient is not needed costs nothing in backward). Requires temperature > 0.
// weight_gradient_buffer, when defined: (vocab, h) fp32, where backward adds
// the weight's gradient (the caller's accumulation buffer, e.g. the weight's
// part of FlatGradients); the weight then gets no gradient through autograd.
ChunkedTokenOutputs chunked_output_layer(const torch::Tensor& hidden, const torch::Tensor& weight,
                                         const torch::Tensor& tokens, double temperature, int64_t chunk_tokens,
                                         const torch::Tensor& weight_gradient_buffer = {});

}  // namespace deltarl
