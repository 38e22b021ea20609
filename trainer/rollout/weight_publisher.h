// publish_weights(): sends a WeightSnapshot to one rollout worker as a new
// policy version over LoadWeights: each tensor in chunks of at most
// `chunk_bytes`, its CRC-32C on its last chunk, the final chunk marked. The
// worker installs the version only when all of it arrived intact. One snapshot
// goes to any number of workers (RolloutFleet::publish sends it to several at once).
//
//   const WeightSnapshot snapshot(model);
//   Status s = publish_weights(stub, snapshot, version, options);
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "deltarl/v1/rollout.grpc.pb.h"

#include "core/status.h"
#include "trainer/rollout/weight_snapshot.h"

namespace deltarl {

struct PublishOptions {
  std::optional<std::string> auth_token;  // RolloutFleet sends its registry's token instead
  size_t chunk_bytes = size_t{4} << 20;
  double deadline_seconds = 600;          // for one worker's whole upload
};

// The worker's reply, or its error as a Status (kFailedPrecondition for a stale
// version, kDataLoss for a checksum mismatch, kUnavailable when unreachable).
// Only reads `snapshot`: several threads may send one snapshot at once.
Status publish_weights(v1::RolloutService::Stub& worker, const WeightSnapshot& snapshot, uint64_t version,
                       const PublishOptions& options, v1::LoadWeightsReply* reply = nullptr);

}  // namespace deltarl
