// response_text: the text of what a model generated, for a task verifier and
// for anything shown to a person. The one place that decides what an output id
// the tokenizer has no text for means (Note [Output ids beyond the tokenizer]);
// every caller that decodes generated ids (rollout workers, evaluation,
// gradstats, `deltarl generate`) goes through it.
//
//   const std::string text = response_text(tokenizer, generated.tokens, model->config().vocab_size);
//   const TaskVerdict verdict = verifier.score(text);
//
// Note [Output ids beyond the tokenizer]
// A model's output layer may be larger than its tokenizer: the real Qwen
// checkpoints have vocab_size 151,936 and a 151,669-token tokenizer, the rest
// padding rows. The model can sample any id of its output layer, so every id
// in [0, model vocab) is a valid output. Those in [tokenizer size, model vocab)
// (and any hole in the tokenizer's id range) stay in the sample, with their
// log-probs, and the learner trains on them as on any other token; they decode
// as nothing. Nothing changes the sampling distribution, so the worker's and
// the learner's log-probs still agree. This is what Hugging Face tokenizers
// and vLLM do. An id outside [0, model vocab) cannot come from the model: it is
// a bug or bad input, and stays an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"

namespace deltarl {

// Text of the generated `ids`, special tokens skipped, ids the tokenizer has no
// text for decoded as nothing (Note [Output ids beyond the tokenizer]).
// `model_vocab_size` is the model's output size (ModelConfig::vocab_size).
// Throws InputError for an id outside [0, model_vocab_size).
std::string response_text(const Tokenizer& tokenizer, const std::vector<int64_t>& ids, int64_t model_vocab_size);

}  // namespace deltarl
