// GenerationEngine: the worker's decoding loop. Requests (each a set of
// sequences sharing sampling options) queue up; one engine thread repeatedly
// takes queued sequences with the same options, up to `max_batch_sequences`,
// and decodes them as one batch with the KV cache on a snapshot of the policy.
// Each sequence is handed to its request's callback the moment it finishes, so
// short responses stream out while long ones still decode; new requests join at
// the next batch. (Joining a batch mid-flight, token-level continuous batching,
// needs per-slot KV-cache lengths and is not done yet.)
//
// Cancelling a request drops its queued sequences; its sequences already
// decoding finish, and their results are discarded. stop() drains: it finishes
// the running batch, fails what is queued with `kCancelled`, and joins the thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/model/text_generator.h"
#include "rollout_workers/versioned_policy.h"

namespace deltarl {

struct SequenceRequest {
  std::vector<int64_t> prompt;
  uint64_t seed = 0;
  uint64_t tag = 0;  // the caller's own id for this sequence, echoed back
};

struct FinishedSequence {
  uint64_t tag = 0;
  GeneratedSequence generated;
  uint64_t policy_version = 0;
};

class GenerationRequest {
 public:
  enum class End { kCompleted, kCancelled };
  // Called on the engine thread, once per sequence, as each finishes.
  using OnSequence = std::function<void(FinishedSequence)>;
  // Called once, after the last sequence or on cancellation/shutdown.
  using OnEnd = std::function<void(End)>;

  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  friend class GenerationEngine;
  GenerationOptions options_;
  OnSequence on_sequence_;
  OnEnd on_end_;
  std::atomic<bool> cancelled_{false};
  size_t outstanding_ = 0;  // sequences not yet delivered; engine mutex
  bool ended_ = false;
};

struct EngineStatistics {
  int32_t queued_sequences = 0;
  int32_t running_sequences = 0;
  double tokens_per_second = 0;  // generated tokens over the last batch's wall time
};

class GenerationEngine {
 public:
  GenerationEngine(std::shared_ptr<VersionedPolicy> policy, int64_t max_batch_sequences);
  ~GenerationEngine();  // stop()
  GenerationEngine(const GenerationEngine&) = delete;
  GenerationEngine& operator=(const GenerationEngine&) = delete;

  // Queues the sequences. Options must be valid (validate() first). Returns the
  // handle to cancel with; callbacks may run before submit returns.
  std::shared_ptr<GenerationRequest> submit(std::vector<SequenceRequest> sequences, GenerationOptions options,
                                            GenerationRequest::OnSequence on_sequence,
                                            GenerationRequest::OnEnd on_end);

  EngineStatistics statistics() const;
  const VersionedPolicy& policy() const { return *policy_; }
  void stop();

 private:
  struct Pending {
    std::shared_ptr<GenerationRequest> request;
    SequenceRequest sequence;
  };
  void run();
  void deliver_end_if_done(const std::shared_ptr<GenerationRequest>& request, std::unique_lock<std::mutex>& lock);

  std::shared_ptr<VersionedPolicy> policy_;
  int64_t max_batch_sequences_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  int32_t running_ = 0;
  double tokens_per_second_ = 0;
  std::thread thread_;
};

}  // namespace deltarl
