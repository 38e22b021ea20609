// publish_weights(): sends a model's parameters to one rollout worker as a new
// policy version over LoadWeights: each tensor in chunks of at most
// `chunk_bytes`, its CRC-32C on its last chunk, the final chunk marked. The
// worker installs the version only when all of it arrived intact.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "deltarl/v1/rollout.grpc.pb.h"

#include "core/model/qwen2_model.h"
#include "core/status.h"

namespace deltarl {

struct PublishOptions {
  std::optional<std::string> auth_token;
  size_t chunk_bytes = size_t{4} << 20;
  double deadline_seconds = 600;
};

// The worker's reply, or its error as a Status (kFailedPrecondition for a stale
// version, kDataLoss for a checksum mismatch, kUnavailable when unreachable).
Status publish_weights(v1::RolloutService::Stub& worker, Qwen2ForCausalLM& model, uint64_t version,
                       const PublishOptions& options, v1::LoadWeightsReply* reply = nullptr);

}  // namespace deltarl
