#include "core/model/text_generator.h"

#include <algorithm>

#include "core/input_error.h"
#include "core/model/last_position_logits.h"
#include "core/model/left_padded_batch.h"

namespace deltarl {

const char* GenerationOptions::finish_reason(int64_t token, int64_t generated) const {
  if (std::find(stop_token_ids.begin(), stop_token_ids.end(), token) != stop_token_ids.end()) return "stop";
  return generated >= max_new_tokens ? "length" : nullptr;
}

void GenerationOptions::validate() const {
  sampling.validate();
  if (max_new_tokens < 1) throw InputError("max_new_tokens must be >= 1, got " + std::to_string(max_new_tokens));
}

std::vector<GeneratedSequence> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                        const std::vector<uint64_t>& seeds, const GenerationOptions& options) {
  options.validate();
  if (prompts.empty() || seeds.size() != prompts.size()) {
    throw InputError("generate: need at least one prompt and one seed per prompt");
  }
  const ModelConfig& config = model->config();
  int64_t longest = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) throw InputError("prompt " + std::to_string(i) + " is empty");
    for (int64_t id : prompts[i]) {
      if (id < 0 || id >= config.vocab_size) {
        throw InputError("prompt " + std::to_string(i) + " has token id " + std::to_string(id) +
                         " outside the vocabulary [0, " + std::to_string(config.vocab_size) + ")");
      }
    }
    longest = std::max<int64_t>(longest, static_cast<int64_t>(prompts[i].size()));
  }
  if (longest + options.max_new_tokens > config.max_position_embeddings) {
    throw InputError("prompt of " + std::to_string(longest) + " tokens plus max_new_tokens " +
                     std::to_string(options.max_new_tokens) + " exceeds the model's context of " +
                     std::to_string(config.max_position_embeddings));
  }
  torch::NoGradGuard no_grad;
  const auto device = model->model->embed_tokens->weight.device();
  const int64_t batch = static_cast<int64_t>(prompts.size());
  const LeftPaddedBatch padded = left_pad(prompts, /*mask_room=*/options.max_new_tokens);
  torch::Tensor mask = padded.mask.to(device);
  const torch::Tensor positions = padded.positions.to(device);
  KvCache cache = model->make_cache(batch, longest + options.max_new_tokens);

  std::vector<GeneratedSequence> results(static_cast<size_t>(batch));
  std::vector<std::mt19937_64> random;
  for (uint64_t seed : seeds) random.emplace_back(seed);
  const std::vector<const SamplingParams*> params(static_cast<size_t>(batch), &options.sampling);
  std::vector<std::mt19937_64*> streams;
  for (auto& stream : random) streams.push_back(&stream);
  const std::vector<double> log_prob_temperatures(static_cast<size_t>(batch), options.log_prob_temperature());
  std::vector<bool> done(static_cast<size_t>(batch), false);
  // (b, vocab): the prefill's last position, then each decode step's one.
  torch::Tensor last = last_position_logits(model, padded.ids.to(device), mask.narrow(1, 0, longest), positions, &cache);
  torch::Tensor next_positions = positions.select(1, longest - 1) + 1;  // (b,)
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    // Finished rows draw too (their streams are not used again), so the batch stays one call.
    const SampledTokens sampled = sample_tokens_with_log_probs(last, params, streams, log_prob_temperatures);
    const std::vector<int64_t>& chosen = sampled.tokens;
    bool all_done = true;
    for (int64_t row = 0; row < batch; ++row) {
      const size_t r = static_cast<size_t>(row);
      if (done[r]) continue;
      results[r].tokens.push_back(chosen[r]);
      results[r].log_probs.push_back(sampled.log_probs[r]);
      if (const char* reason = options.finish_reason(chosen[r], step + 1)) {
        done[r] = true;
        results[r].finish_reason = reason;
      }
      all_done = all_done && done[r];
    }
    if (all_done) break;
    // Finished rows keep decoding a dummy token, masked out, so the batch stays rectangular.
    mask.select(1, longest + step).fill_(1);
    last = model->forward(torch::tensor(chosen).to(device).unsqueeze(1), mask.narrow(1, 0, longest + step + 1),
                          next_positions.unsqueeze(1), &cache)
               .select(1, 0);  // (b, vocab)
    next_positions = next_positions + 1;
  }
  return results;
}

}  // namespace deltarl
