// generate(): autoregressive decoding with the KV cache for a batch of prompts
// (left-padded together), each with its own seed, stopping per sequence at a
// stop token or max_new_tokens. Every generated token comes with its
// log-probability under log_softmax(logits / T) in fp32 (as token_log_probs), the
// quantity the learner recomputes; at temperature 0 (greedy), T = 1 is used.
//
// This is the reference decoding loop; the rollout workers' continuous-batching
// engine builds on the same model, sampler and log-probability function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/causal_lm.h"
#include "core/model/sampler.h"

namespace deltarl {

struct GenerationOptions {
  SamplingParams sampling;
  int64_t max_new_tokens = 128;
  std::vector<int64_t> stop_token_ids;  // generation ends after emitting one
  void validate() const;                // InputError for max_new_tokens < 1 and bad sampling

  // After emitting `token` as the `generated`-th token: "stop" for a stop token,
  // "length" at max_new_tokens, nullptr while the sequence goes on.
  const char* finish_reason(int64_t token, int64_t generated) const;
  // The temperature of reported log-probs: the sampling one, 1 when greedy.
  double log_prob_temperature() const { return sampling.temperature > 0 ? sampling.temperature : 1.0; }
};

struct GeneratedSequence {
  std::vector<int64_t> tokens;   // generated ids only, the stop token included
  std::vector<float> log_probs;  // one per generated token
  std::string finish_reason;     // "stop" or "length"
};

// `prompts`: token ids, each non-empty, every id in [0, vocab); `seeds`: one per
// prompt. Prompt plus max_new_tokens must fit max_position_embeddings. Decodes
// with the inference form the caller prepared (model->prepare_inference(), see
// core/model/inference_forms.h), the training layers when none is valid.
std::vector<GeneratedSequence> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                        const std::vector<uint64_t>& seeds, const GenerationOptions& options);

}  // namespace deltarl
