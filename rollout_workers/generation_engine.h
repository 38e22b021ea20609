// GenerationEngine: the worker's decoding loop, with continuous batching.
// Requests (sets of sequences with their sampling options) queue up; one engine
// thread keeps up to `max_batch_sequences` sequences decoding. Every step it
// first admits queued sequences into free rows of a shared per-row KV cache
// (prefilling each prompt), then advances every running sequence by one token
// in one batched forward, each row at its own position, and hands each
// sequence that finished to its request's callback at once, freeing its row
// for the next queued one (rows stay packed: the last moves into the gap).
// Sequences with different sampling options share a step.
//
// Versions: a sequence decodes entirely on the policy snapshot it was admitted
// with; sequences on an older snapshot finish on it (and say so) while new ones
// are admitted on the new one, each version group in its own forward.
//
// Cancelling a request drops its queued and running sequences (results of a
// running one are discarded). stop() drains: running sequences finish, queued
// ones are dropped with `kCancelled`, and the thread joins.
//
// Failures: nothing thrown on the engine thread leaves it. A request whose
// on_sequence throws, or whose sequences' prefill or step fails, ends with
// `kFailed` and a Status naming the cause (kInvalidArgument for an InputError,
// kInternal otherwise); its other sequences are dropped and the engine goes on
// serving every other request. An on_end that throws is logged. Any other
// failure of the loop fails the requests of every running sequence and starts
// again with empty caches (the policy is untouched); failing three times in a
// row from such a fresh start, the state is lost and the process exits (code 1)
// with the cause logged.
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
#include "core/status.h"
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
  enum class End { kCompleted, kCancelled, kFailed };
  // Called on the engine thread, once per sequence, as each finishes. Throwing
  // fails the request: its other sequences are dropped, and on_end gets kFailed.
  using OnSequence = std::function<void(FinishedSequence)>;
  // Called once, after the last sequence or on cancellation/shutdown/failure.
  // `failure` is OK unless `end` is kFailed; then it says what failed.
  using OnEnd = std::function<void(End end, const Status& failure)>;

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
  Status failure_;  // the first failure, which ends the request; engine mutex
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
  struct Running;
  struct VersionGroup;
  void run();
  void admit(std::vector<std::unique_ptr<VersionGroup>>& groups, std::unique_lock<std::mutex>& lock);
  void step(VersionGroup& group);
  // One iteration of the loop; false once stopped and drained.
  bool run_once(std::vector<std::unique_ptr<VersionGroup>>& groups, std::unique_lock<std::mutex>& lock);
  // Hands a finished sequence to its request (when `deliver`) and counts it
  // done; the engine lock must not be held. Marks `sequence` released.
  void release(Running& sequence, uint64_t version, bool deliver);
  // Records `failure` as the request's (the first one wins) and cancels it.
  void fail(GenerationRequest& request, Status failure);
  // Samples each sequence's next token from its row of `logits` (rows, vocab)
  // with its own options and random stream, and records it with its log-prob
  // at the sequence's temperature.
  static void take_next_tokens(const torch::Tensor& logits, std::vector<Running>& sequences);
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
