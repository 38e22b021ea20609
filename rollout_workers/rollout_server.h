// RolloutServer: a running rollout worker: policy + GenerationEngine +
// RolloutService behind a gRPC server. Binds 127.0.0.1 unless told otherwise
// (port 0 picks a free one). shutdown() drains: new calls are refused, running
// streams get `drain_seconds` to finish before they are cancelled, then the
// engine stops. The destructor shuts down.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "rollout_workers/rollout_service.h"

namespace deltarl {

struct RolloutServerOptions {
  std::string model_folder;               // config.json, model.safetensors, tokenizer.json
  std::string bind_address = "127.0.0.1";
  int port = 0;
  int64_t max_batch_sequences = 64;
  // The paged KV cache's budget in bytes; 0: kv_cache_budget.h's default,
  // read once the model (and its standby copy) are in memory.
  int64_t kv_cache_bytes = 0;
  bool cuda_graphs = false;  // decoding steps as CUDA graphs (GenerationEngine's EngineOptions)
  std::string device = "cpu";             // cpu | cuda | cuda:N: where the model, KV cache and forward run
  std::optional<std::string> auth_token;
  int max_message_bytes = 64 << 20;       // per message, both directions
  // Allocate a second copy of the model at start, so weight uploads (even the
  // first) fill it in place and swap: twice the model's memory, from the start.
  bool preallocate_standby = true;
};

class RolloutServer {
 public:
  // Loads the model and tokenizer and starts serving. Throws InputError naming
  // the file for a bad model folder or the device for a device LibTorch lacks,
  // std::runtime_error if the port cannot bind.
  explicit RolloutServer(const RolloutServerOptions& options);
  ~RolloutServer();
  RolloutServer(const RolloutServer&) = delete;
  RolloutServer& operator=(const RolloutServer&) = delete;

  int port() const { return port_; }
  std::string address() const;  // "host:port"
  void shutdown(double drain_seconds = 30.0);
  void wait();  // until shutdown() completes

 private:
  std::shared_ptr<VersionedPolicy> policy_;
  std::shared_ptr<GenerationEngine> engine_;
  std::unique_ptr<RolloutService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string host_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace deltarl
