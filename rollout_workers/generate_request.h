// What a Generate RPC asks for, checked against the model being served before
// anything is queued: the request's fields (proto/deltarl/v1/rollout.proto)
// turned into the engine's sequences and the verifiers that score them.
// Callable without a server, so that tests and tests/fuzz/ can run mutated
// requests through exactly the checks the worker applies.
//
//   GenerateWork work = validate_generate_request(request, model->config(), 65536);
//   engine->submit(std::move(work.sequences), work.generation, ...);
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "deltarl/v1/rollout.pb.h"

#include "core/model/model_config.h"
#include "core/model/text_generator.h"
#include "core/tasks/task_verifier.h"
#include "rollout_workers/generation_engine.h"

namespace deltarl {

inline constexpr int32_t kMaxSamplesPerPrompt = 1024;

struct GenerateWork {
  GenerationOptions generation;                          // the model's EOS ids added to the stop ids
  std::shared_ptr<std::vector<TaskVerifier>> verifiers;  // one per prompt
  std::vector<SequenceRequest> sequences;                // tag = prompt index x samples + k
  std::vector<uint64_t> group_ids;                       // one per prompt
  int32_t samples_per_prompt = 0;
};

// Throws InputError naming the field and the reason (the RPC answers
// INVALID_ARGUMENT): no prompts, samples_per_prompt outside [1, 1024], more
// than `max_sequences` sequences, sampling parameters out of range, ids
// outside the vocabulary, a prompt that does not fit the context with
// max_new_tokens, an unknown task or a bad task payload.
GenerateWork validate_generate_request(const v1::GenerateRequest& request, const ModelConfig& config,
                                       int64_t max_sequences);

}  // namespace deltarl
