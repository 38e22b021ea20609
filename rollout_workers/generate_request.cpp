#include "rollout_workers/generate_request.h"

#include <cmath>
#include <string>

#include "core/input_error.h"

namespace deltarl {

namespace {

GenerationOptions parse_sampling(const v1::GenerateRequest& request, const ModelConfig& config) {
  const v1::SamplingParams& sampling = request.sampling();
  GenerationOptions options;
  options.sampling.temperature = sampling.temperature();
  options.sampling.top_p = sampling.top_p() == 0.0 ? 1.0 : sampling.top_p();
  options.max_new_tokens = sampling.max_new_tokens();
  if (!(options.sampling.temperature >= 0 && options.sampling.temperature <= 100)) {
    throw InputError("sampling.temperature must be in [0, 100], got " + std::to_string(sampling.temperature()));
  }
  options.validate();
  for (int32_t id : sampling.stop_token_ids()) {
    if (id < 0 || id >= config.vocab_size) {
      throw InputError("sampling.stop_token_ids has " + std::to_string(id) + ", outside the vocabulary");
    }
    options.stop_token_ids.push_back(id);
  }
  options.stop_token_ids.insert(options.stop_token_ids.end(), config.eos_token_ids.begin(), config.eos_token_ids.end());
  return options;
}

}  // namespace

GenerateWork validate_generate_request(const v1::GenerateRequest& request, const ModelConfig& config,
                                       int64_t max_sequences) {
  if (request.prompts_size() == 0) throw InputError("prompts is empty");
  if (request.samples_per_prompt() < 1 || request.samples_per_prompt() > kMaxSamplesPerPrompt) {
    throw InputError("samples_per_prompt must be in [1, " + std::to_string(kMaxSamplesPerPrompt) + "], got " +
                     std::to_string(request.samples_per_prompt()));
  }
  if (static_cast<int64_t>(request.prompts_size()) * request.samples_per_prompt() > max_sequences) {
    throw InputError("prompts x samples_per_prompt exceeds " + std::to_string(max_sequences));
  }
  GenerateWork work;
  work.generation = parse_sampling(request, config);
  work.verifiers = std::make_shared<std::vector<TaskVerifier>>();
  work.samples_per_prompt = request.samples_per_prompt();
  for (int p = 0; p < request.prompts_size(); ++p) {
    const v1::Prompt& prompt = request.prompts(p);
    const std::string where = "prompts[" + std::to_string(p) + "]";
    if (prompt.token_ids_size() == 0) throw InputError(where + ".token_ids is empty");
    if (prompt.token_ids_size() + work.generation.max_new_tokens > config.max_position_embeddings) {
      throw InputError(where + " has " + std::to_string(prompt.token_ids_size()) + " tokens; with max_new_tokens " +
                       std::to_string(work.generation.max_new_tokens) + " it exceeds the context of " +
                       std::to_string(config.max_position_embeddings));
    }
    std::vector<int64_t> ids;
    ids.reserve(static_cast<size_t>(prompt.token_ids_size()));
    for (int32_t id : prompt.token_ids()) {
      if (id < 0 || id >= config.vocab_size) {
        throw InputError(where + ".token_ids has " + std::to_string(id) + ", outside the vocabulary [0, " +
                         std::to_string(config.vocab_size) + ")");
      }
      ids.push_back(id);
    }
    work.verifiers->push_back(TaskVerifier::parse(prompt.task(), prompt.task_payload_json(), where));
    work.group_ids.push_back(prompt.group_id());
    const uint64_t seed = prompt.has_seed() ? prompt.seed() : request.sampling().seed();
    for (int k = 0; k < request.samples_per_prompt(); ++k) {
      work.sequences.push_back({ids, seed + static_cast<uint64_t>(k),
                                static_cast<uint64_t>(p) * static_cast<uint64_t>(request.samples_per_prompt()) + k});
    }
  }
  return work;
}

}  // namespace deltarl
