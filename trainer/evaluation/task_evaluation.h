// Held-out evaluation (`deltarl eval`): generate n samples per prompt of a
// task's JSONL file (prompts rendered exactly as `deltarl train` renders them)
// and score them with the task's verifier. In-process, batched, seeded.
//
//   EvaluationResult r = evaluate_task(model, tokenizer, "test.jsonl", options);
//   // r.accuracy: mean over all samples of "correct"; r.pass_at_n: prompts with one correct
#pragma once

#include <cstdint>
#include <string>

#include "core/model/causal_lm.h"
#include "core/tokenizer/tokenizer.h"
#include "trainer/prompts/prompt_dataset.h"

namespace deltarl {

struct EvaluationOptions {
  PromptDatasetOptions prompts;   // task, template, chat, format_reward
  int64_t samples_per_prompt = 1;
  double temperature = 0.0;       // 0: greedy
  double top_p = 1.0;
  int64_t max_new_tokens = 256;
  int64_t batch_size = 64;        // sequences decoded together
  int64_t limit = 0;              // first N prompts only; 0: all
  uint64_t seed = 0;
  int64_t shard_index = 0;        // evaluate prompts p ≡ shard_index (mod shard_count) only
  int64_t shard_count = 1;
};

// Sums over the prompts evaluated, so shards add up; finish() turns them into means.
struct EvaluationTotals {
  double prompts = 0, samples = 0, correct = 0, prompts_solved = 0, reward = 0, length = 0, truncated = 0;
};

struct EvaluationResult {
  int64_t prompts = 0, samples = 0;
  double accuracy = 0;        // fraction of samples scored "correct"
  double pass_at_n = 0;       // fraction of prompts with at least one correct sample
  double mean_reward = 0;
  double mean_length = 0;     // response tokens
  double truncated_fraction = 0;
};

EvaluationResult finish_evaluation(const EvaluationTotals& totals);

// This shard's totals. Prepares the model's fused inference form first
// (prepare_inference(LinearForm::kFused)): its weights may have changed since
// the forms were last built (an optimizer step, a checkpoint load), and kFused
// keeps the numbers of the learner's other no-grad forwards (Note [Inference
// form numerics]). The model stays prepared so, and in eval mode only for the call.
EvaluationTotals evaluate_task_totals(CausalLM& model, const Tokenizer& tokenizer, const PromptDataset& dataset,
                                      const std::string& source, const EvaluationOptions& options);

// The whole file, one shard: finish_evaluation(evaluate_task_totals(...)).
EvaluationResult evaluate_task(CausalLM& model, const Tokenizer& tokenizer, const std::string& data_path,
                               const EvaluationOptions& options);

}  // namespace deltarl
