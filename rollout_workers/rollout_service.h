// RolloutService: the gRPC service of proto/deltarl/v1/rollout.proto on the
// callback API. Generate validates a request (INVALID_ARGUMENT with the field
// and the reason), queues its sequences on the GenerationEngine and streams one
// Completion per finished sequence from a ServerWriteReactor, writing the next
// from OnWriteDone; a client that disconnects cancels its queued sequences.
// Every completion carries the policy version that produced it and the reward
// of its task's verifier. LoadWeights assembles and verifies a whole version
// (rollout_workers/weight_upload.h) off the gRPC threads, then installs it
// atomically: batches already decoding finish on the old version and say so.
// No exception crosses a handler.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "deltarl/v1/rollout.grpc.pb.h"

#include "core/tokenizer/tokenizer.h"
#include "rollout_workers/generation_engine.h"

namespace deltarl {

struct RolloutServiceOptions {
  std::optional<std::string> auth_token;   // required as "authorization: Bearer <token>" when set
  int64_t max_sequences_per_request = 65536;
};

class RolloutService final : public v1::RolloutService::CallbackService {
 public:
  RolloutService(std::shared_ptr<VersionedPolicy> policy, std::shared_ptr<GenerationEngine> engine,
                 std::shared_ptr<const Tokenizer> tokenizer, RolloutServiceOptions options);

  grpc::ServerWriteReactor<v1::Completion>* Generate(grpc::CallbackServerContext* context,
                                                      const v1::GenerateRequest* request) override;
  grpc::ServerReadReactor<v1::WeightChunk>* LoadWeights(grpc::CallbackServerContext* context,
                                                        v1::LoadWeightsReply* reply) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context, const v1::GetStatusRequest* request,
                                      v1::WorkerStatus* reply) override;

 private:
  grpc::Status check_auth(grpc::CallbackServerContext* context) const;

  std::shared_ptr<VersionedPolicy> policy_;
  std::shared_ptr<GenerationEngine> engine_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  RolloutServiceOptions options_;
};

}  // namespace deltarl
