#include "trainer/evaluation/task_evaluation.h"

#include <algorithm>
#include <map>

#include <torch/torch.h>

#include "core/model/text_generator.h"
#include "core/tasks/task_verifier.h"
#include "core/tokenizer/response_text.h"
#include "trainer/prompts/prompt_sampler.h"

namespace deltarl {

EvaluationResult finish_evaluation(const EvaluationTotals& totals) {
  EvaluationResult result;
  result.prompts = static_cast<int64_t>(totals.prompts);
  result.samples = static_cast<int64_t>(totals.samples);
  const double samples = std::max(1.0, totals.samples);
  result.accuracy = totals.correct / samples;
  result.mean_reward = totals.reward / samples;
  result.mean_length = totals.length / samples;
  result.truncated_fraction = totals.truncated / samples;
  result.pass_at_n = totals.prompts_solved / std::max(1.0, totals.prompts);
  return result;
}

EvaluationTotals evaluate_task_totals(CausalLM& model, const Tokenizer& tokenizer, const PromptDataset& dataset,
                                      const std::string& source, const EvaluationOptions& options) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  model->prepare_inference(LinearForm::kFused);
  const size_t prompts = options.limit > 0 ? std::min<size_t>(dataset.size(), options.limit) : dataset.size();
  GenerationOptions generation;
  generation.sampling.temperature = options.temperature;
  generation.sampling.top_p = options.top_p;
  generation.max_new_tokens = options.max_new_tokens;
  generation.stop_token_ids = model->config().eos_token_ids;
  generation.validate();

  // This shard's (prompt, sample) pairs, decoded in batches of similar prompt length.
  std::vector<std::pair<size_t, int64_t>> jobs;
  for (size_t p = static_cast<size_t>(options.shard_index); p < prompts; p += static_cast<size_t>(options.shard_count)) {
    for (int64_t k = 0; k < options.samples_per_prompt; ++k) jobs.emplace_back(p, k);
  }
  std::stable_sort(jobs.begin(), jobs.end(), [&](const auto& a, const auto& b) {
    return dataset[a.first].token_ids.size() < dataset[b.first].token_ids.size();
  });
  std::map<size_t, int64_t> correct_per_prompt;
  EvaluationTotals totals;
  for (size_t begin = 0; begin < jobs.size(); begin += static_cast<size_t>(options.batch_size)) {
    const size_t end = std::min(jobs.size(), begin + static_cast<size_t>(options.batch_size));
    std::vector<std::vector<int64_t>> batch;
    std::vector<uint64_t> seeds;
    for (size_t j = begin; j < end; ++j) {
      const auto& ids = dataset[jobs[j].first].token_ids;
      batch.emplace_back(ids.begin(), ids.end());
      seeds.push_back(mix_seed(options.seed, jobs[j].first, static_cast<uint64_t>(jobs[j].second)));
    }
    const auto generated = generate(model, batch, seeds, generation);
    for (size_t j = begin; j < end; ++j) {
      const PromptRecord& record = dataset[jobs[j].first];
      const auto& sequence = generated[j - begin];
      const TaskVerdict verdict =
          TaskVerifier::parse(record.task, record.task_payload_json, source)
              .score(response_text(tokenizer, sequence.tokens, model->config().vocab_size));
      totals.samples += 1;
      totals.correct += verdict.correct();
      totals.reward += verdict.reward;
      totals.length += static_cast<double>(sequence.tokens.size());
      totals.truncated += sequence.finish_reason == "length";
      correct_per_prompt[jobs[j].first] += verdict.correct();
    }
  }
  for (const auto& [prompt, correct] : correct_per_prompt) {
    totals.prompts += 1;
    totals.prompts_solved += correct > 0;
  }
  if (was_training) model->train();
  return totals;
}

EvaluationResult evaluate_task(CausalLM& model, const Tokenizer& tokenizer, const std::string& data_path,
                               const EvaluationOptions& options) {
  const PromptDataset dataset(data_path, tokenizer, options.prompts);
  return finish_evaluation(evaluate_task_totals(model, tokenizer, dataset, data_path, options));
}

}  // namespace deltarl
