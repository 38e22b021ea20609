#include "trainer/task_evaluation.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/model/text_generator.h"
#include "core/tasks/task_verifier.h"
#include "trainer/prompt_sampler.h"

namespace deltarl {

EvaluationResult evaluate_task(Qwen2ForCausalLM& model, const Tokenizer& tokenizer, const std::string& data_path,
                               const EvaluationOptions& options) {
  torch::NoGradGuard no_grad;
  model->eval();
  const PromptDataset dataset(data_path, tokenizer, options.prompts);
  const size_t prompts = options.limit > 0 ? std::min<size_t>(dataset.size(), options.limit) : dataset.size();
  GenerationOptions generation;
  generation.sampling.temperature = options.temperature;
  generation.sampling.top_p = options.top_p;
  generation.max_new_tokens = options.max_new_tokens;
  generation.stop_token_ids = model->config().eos_token_ids;
  generation.validate();

  // Every (prompt, sample) pair, decoded in batches of similar prompt length.
  std::vector<std::pair<size_t, int64_t>> jobs;
  for (size_t p = 0; p < prompts; ++p) {
    for (int64_t k = 0; k < options.samples_per_prompt; ++k) jobs.emplace_back(p, k);
  }
  std::stable_sort(jobs.begin(), jobs.end(), [&](const auto& a, const auto& b) {
    return dataset[a.first].token_ids.size() < dataset[b.first].token_ids.size();
  });
  std::vector<int64_t> correct_per_prompt(prompts, 0);
  EvaluationResult result;
  result.prompts = static_cast<int64_t>(prompts);
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
      const std::vector<int32_t> ids(sequence.tokens.begin(), sequence.tokens.end());
      const TaskVerdict verdict = TaskVerifier::parse(record.task, record.task_payload_json, data_path)
                                      .score(tokenizer.decode(ids, /*skip_special_tokens=*/true));
      result.samples += 1;
      result.accuracy += verdict.correct();
      result.mean_reward += verdict.reward;
      result.mean_length += static_cast<double>(ids.size());
      result.truncated_fraction += sequence.finish_reason == "length";
      correct_per_prompt[jobs[j].first] += verdict.correct();
    }
  }
  const double samples = std::max<double>(1, static_cast<double>(result.samples));
  result.accuracy /= samples;
  result.mean_reward /= samples;
  result.mean_length /= samples;
  result.truncated_fraction /= samples;
  for (int64_t correct : correct_per_prompt) result.pass_at_n += correct > 0;
  result.pass_at_n /= std::max<double>(1, static_cast<double>(prompts));
  return result;
}

}  // namespace deltarl
