// RolloutClient: the learner's side of the rollout service. Fans a step's
// prompt groups out over several workers, collects the completions, and when a
// worker fails or dies mid-stream, discards that worker's unfinished groups and
// reissues them whole on the workers still alive, until every group has all
// its samples or the deadline passes. Every group arrives exactly once (no
// sample lost or duplicated), or generate() returns an error saying which
// groups are missing and why. The workers' liveness is the WorkerRegistry's:
// a worker the client finds dead is not sent weights any more, and a worker
// that failed to take weights is not sent prompts.
//
//   WorkerRegistry workers({"127.0.0.1:5001", "127.0.0.1:5002"}, token);
//   RolloutClient client(workers, {});
//   std::vector<GroupCompletions> groups;
//   Status s = client.generate(prompts, /*samples_per_prompt=*/8, sampling, version, &groups);
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "deltarl/v1/rollout.grpc.pb.h"

#include "core/status.h"
#include "trainer/rollout/worker_registry.h"

namespace deltarl {

struct PromptGroup {
  uint64_t group_id = 0;
  std::vector<int32_t> token_ids;
  std::string task;               // "countdown", "math" or ""
  std::string task_payload_json;  // the verifier's ground truth
  std::optional<uint64_t> seed;   // response k uses seed + k (else the request's sampling seed + k)
};

struct GroupCompletions {
  uint64_t group_id = 0;
  std::vector<v1::Completion> samples;  // sample_index 0 .. samples_per_prompt-1, in order
};

struct RolloutClientOptions {
  // Only for a client with a registry of its own (RolloutClient(options)):
  std::vector<std::string> workers;        // "host:port"
  std::optional<std::string> auth_token;

  double deadline_seconds = 1800;          // for a whole generate() call
  // Called for every completion as it arrives (on the worker's stream thread),
  // before it is known whether its group will be kept; `worker` is its number
  // in the registry. For progress and tests.
  std::function<void(size_t worker, const v1::Completion&)> on_completion;
};

class RolloutClient {
 public:
  // Uses `workers` (which must outlive the client), shared with the other
  // users of the registry; options.workers and options.auth_token must be
  // empty (the registry holds them).
  RolloutClient(WorkerRegistry& workers, RolloutClientOptions options);
  // A client with a registry of its own, of options.workers (tools and tests).
  explicit RolloutClient(RolloutClientOptions options);
  RolloutClient(const RolloutClient&) = delete;
  RolloutClient& operator=(const RolloutClient&) = delete;

  // Blocks until every group has `samples_per_prompt` completions (returned in
  // the order of `prompts`), or fails: kInvalidArgument when a worker rejects the
  // request (no retry: it would fail everywhere), kUnavailable when no worker is
  // left or the deadline passed.
  Status generate(const std::vector<PromptGroup>& prompts, int32_t samples_per_prompt,
                  const v1::SamplingParams& sampling, uint64_t min_policy_version,
                  std::vector<GroupCompletions>* groups);

  size_t live_workers() const { return workers_.live_count(); }
  WorkerRegistry& workers() { return workers_; }

  // Ends every stream of a generate() running on another thread, which then
  // returns kCancelled-like kUnavailable at once; later generate() calls fail
  // the same way. For stopping a background rollout on shutdown or error.
  void cancel();

 private:
  std::unique_ptr<WorkerRegistry> owned_workers_;  // set only by RolloutClient(options)
  WorkerRegistry& workers_;
  RolloutClientOptions options_;
  std::mutex active_mutex_;
  std::set<grpc::ClientContext*> active_;  // streams in flight, for cancel()
  bool cancelled_ = false;
};

}  // namespace deltarl
