// GenerationEngine: the worker's decoding loop, with continuous batching over a
// paged KV cache. Requests (sets of sequences with their sampling options)
// queue up; one engine thread keeps up to `max_batch_sequences` sequences
// decoding, every step advancing each by one token in one batched forward (each
// at its own position, attending to its own blocks of the pool) and handing
// each sequence that finished to its request's callback at once. Sequences
// with different sampling options share a step; sampling runs on the model's
// device (sampler.h).
//
// Memory: keys and values live in one PagedKvCache of `kv_cache_bytes`, in
// blocks of `block_size` positions. Consecutive queued sequences of one
// request with the same prompt (a prompt group: a GRPO group's G samples) are
// prefilled once, as one row; their samples share its full blocks and copy the
// partly filled last one. A sequence takes a block when it grows into one and
// gives its blocks back the moment it finishes. Admission goes by free blocks:
// a prompt group waits in the queue while the pool lacks room for its prompt
// (keeping a reserve of 1 % of the blocks for the running sequences' growth
// while any run). When a running sequence needs a block and none is free, the
// most recently admitted sequence is preempted: its blocks return to the pool,
// and it resumes (its prompt and tokens so far prefilled again, its random
// stream where it was, on its own policy version) before anything new is
// admitted. Nothing fails for lack of memory, except a sequence whose prompt
// plus max_new_tokens alone exceeds the pool: its request fails at once with
// kInvalidArgument naming the budget that would hold it. Since the oldest
// sequence is never preempted for a newer one, every sequence finishes.
//
// Versions: a sequence decodes entirely on the policy snapshot it was admitted
// with; sequences on an older snapshot finish on it (and say so) while new ones
// are admitted on the new one, each version group in its own forward.
//
// Cancelling a request drops its queued, preempted and running sequences
// (results of a running one are discarded). stop() drains: running (and
// preempted) sequences finish, queued ones are dropped with `kCancelled`, and
// the thread joins.
//
// Failures: nothing thrown on the engine thread leaves it. A request whose
// on_sequence throws, or whose sequences' prefill or step fails, ends with
// `kFailed` and a Status naming the cause (kInvalidArgument for an InputError,
// kInternal otherwise); its other sequences are dropped and the engine goes on
// serving every other request. An on_end that throws is logged. Any other
// failure of the loop fails the requests of every running sequence and starts
// again with an empty pool (the policy is untouched); failing three times in a
// row from such a fresh start, the state is lost and the process exits (code 1)
// with the cause logged.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/model/cuda_decode_graphs.h"
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
  int32_t running_sequences = 0;  // preempted ones included
  double tokens_per_second = 0;   // generated tokens over the last batch's wall time
  int64_t kv_blocks = 0;          // the pool's blocks, and those free after the last step
  int64_t free_kv_blocks = 0;
  int64_t admission_waits = 0;    // times queued sequences waited for free blocks, since the start
  int64_t preemptions = 0;        // sequences preempted for blocks, since the start
  int64_t prefill_rows = 0;       // prompt rows prefilled (one per prompt group; resumptions too)
};

struct EngineOptions {
  int64_t max_batch_sequences = 64;  // at most this many sequences decode together
  int64_t kv_cache_bytes = 0;        // the paged KV cache's budget; must hold one block at least
  int64_t block_size = 16;           // positions per block
  // Decoding steps as CUDA graphs (core/model/cuda_decode_graphs.h): a model on
  // a CUDA device and a CUDA build only (InputError otherwise). Off by default
  // until a device run has validated it.
  bool cuda_graphs = false;
};

class GenerationEngine {
 public:
  // Allocates the KV pool for the policy's model (its dtype and device).
  // Throws InputError when the budget is below one block, naming both.
  GenerationEngine(std::shared_ptr<VersionedPolicy> policy, EngineOptions options);
  ~GenerationEngine();  // stop()
  GenerationEngine(const GenerationEngine&) = delete;
  GenerationEngine& operator=(const GenerationEngine&) = delete;

  // Queues the sequences. Options must be valid (validate() first). Returns the
  // handle to cancel with; callbacks may run before submit returns. A sequence
  // the pool could never hold ends the request at once with kFailed
  // (kInvalidArgument; minimum_kv_cache_bytes() says what would hold it).
  // Sequences meant to share a prompt are consecutive with equal prompts.
  std::shared_ptr<GenerationRequest> submit(std::vector<SequenceRequest> sequences, GenerationOptions options,
                                            GenerationRequest::OnSequence on_sequence,
                                            GenerationRequest::OnEnd on_end);

  EngineStatistics statistics() const;
  // The smallest budget that holds one sequence of `positions` positions.
  int64_t minimum_kv_cache_bytes(int64_t positions) const;
  const VersionedPolicy& policy() const { return *policy_; }
  void stop();

 private:
  struct Pending {
    std::shared_ptr<GenerationRequest> request;
    SequenceRequest sequence;
  };
  struct Running;
  struct VersionGroup;
  struct Preempted;
  using Groups = std::vector<std::unique_ptr<VersionGroup>>;
  void run();
  // One iteration of the loop; false once stopped and drained.
  bool run_once(Groups& groups, std::unique_lock<std::mutex>& lock);
  // Resumes preempted sequences, then admits queued prompt groups, while the
  // batch bound and the free blocks allow; the engine lock is held on entry and exit.
  void admit(Groups& groups, std::unique_lock<std::mutex>& lock);
  // Prefills `prompts` (one row each) on `group`'s model and writes row i's
  // keys and values into `tables[i]` (reserved here); returns each row's
  // last-position logits (rows, vocab).
  torch::Tensor prefill(VersionGroup& group, const std::vector<std::vector<int64_t>>& prompts,
                        const std::vector<PagedKvCache::BlockTable*>& tables);
  // Gives every running sequence a slot for its next token, preempting the
  // most recently admitted ones while the pool is short.
  void make_room_for_next_tokens(Groups& groups);
  void step(VersionGroup& group);
  // Hands a finished sequence to its request (when `deliver`) and counts it
  // done; frees its blocks. The engine lock must not be held. Marks `sequence` released.
  void release(Running& sequence, uint64_t version, bool deliver);
  // Records `failure` as the request's (the first one wins) and cancels it.
  void fail(GenerationRequest& request, Status failure);
  // Samples each sequence's next token from its row of `logits` (rows, vocab)
  // with its own options and random stream, on the logits' device, and records
  // it with its log-prob at the sequence's temperature.
  static void take_next_tokens(const torch::Tensor& logits, std::vector<Running*>& sequences);
  void deliver_end_if_done(const std::shared_ptr<GenerationRequest>& request, std::unique_lock<std::mutex>& lock);
  VersionGroup& group_of_version(Groups& groups, const VersionedPolicy::Snapshot& policy);
  // With CUDA graphs: one block of the pool, in no sequence's table, that the
  // graphs' padding rows write into; kv_blocks_ then counts the others.
  void take_graph_scratch_block();
  int64_t graph_scratch_blocks() const { return options_.cuda_graphs ? 1 : 0; }

  std::shared_ptr<VersionedPolicy> policy_;
  EngineOptions options_;
  std::unique_ptr<PagedKvCache> pool_;  // engine thread only, after construction
  // Engine thread only: each served model's decode graphs, while a version group uses it.
  std::map<const CausalLMImpl*, std::unique_ptr<CudaDecodeGraphs>> decode_graphs_;
  int64_t kv_blocks_ = 0, block_bytes_ = 0;  // blocks sequences can hold, and their bytes: fixed once built
  PagedKvCache::BlockTable graph_scratch_;  // engine thread only
  std::deque<Preempted> preempted_;     // engine thread only: resumed before anything is admitted
  uint64_t admissions_ = 0;             // engine thread only: numbers sequences in admission order
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  int32_t running_ = 0;
  double tokens_per_second_ = 0;
  int64_t free_kv_blocks_ = 0, admission_waits_ = 0;         // engine mutex
  std::atomic<int64_t> preemptions_{0}, prefill_rows_{0};  // written by the engine thread alone
  std::thread thread_;
};

}  // namespace deltarl
