#include "rollout_workers/generation_engine.h"

#include <chrono>

#include "core/log.h"

namespace deltarl {

namespace {

bool same_options(const GenerationOptions& a, const GenerationOptions& b) {
  return a.sampling.temperature == b.sampling.temperature && a.sampling.top_p == b.sampling.top_p &&
         a.max_new_tokens == b.max_new_tokens && a.stop_token_ids == b.stop_token_ids;
}

}  // namespace

GenerationEngine::GenerationEngine(std::shared_ptr<VersionedPolicy> policy, int64_t max_batch_sequences)
    : policy_(std::move(policy)), max_batch_sequences_(std::max<int64_t>(1, max_batch_sequences)) {
  thread_ = std::thread([this] { run(); });
}

GenerationEngine::~GenerationEngine() { stop(); }

std::shared_ptr<GenerationRequest> GenerationEngine::submit(std::vector<SequenceRequest> sequences,
                                                            GenerationOptions options,
                                                            GenerationRequest::OnSequence on_sequence,
                                                            GenerationRequest::OnEnd on_end) {
  auto request = std::make_shared<GenerationRequest>();
  request->options_ = std::move(options);
  request->on_sequence_ = std::move(on_sequence);
  request->on_end_ = std::move(on_end);
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_ || sequences.empty()) {
    request->ended_ = true;
    lock.unlock();
    request->on_end_(stopping_ ? GenerationRequest::End::kCancelled : GenerationRequest::End::kCompleted);
    return request;
  }
  request->outstanding_ = sequences.size();
  for (auto& sequence : sequences) queue_.push_back({request, std::move(sequence)});
  lock.unlock();
  wake_.notify_one();
  return request;
}

EngineStatistics GenerationEngine::statistics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {static_cast<int32_t>(queue_.size()), running_, tokens_per_second_};
}

void GenerationEngine::deliver_end_if_done(const std::shared_ptr<GenerationRequest>& request,
                                           std::unique_lock<std::mutex>& lock) {
  if (request->outstanding_ != 0 || request->ended_) return;
  request->ended_ = true;
  const auto end = request->cancelled() ? GenerationRequest::End::kCancelled : GenerationRequest::End::kCompleted;
  lock.unlock();  // never call out while holding the engine's lock
  request->on_end_(end);
  lock.lock();
}

void GenerationEngine::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GenerationEngine::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    // Cancelled requests give up their queued sequences; on stop, everything queued does.
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (stopping_ || it->request->cancelled()) {
        auto request = it->request;
        request->cancel();
        --request->outstanding_;
        it = queue_.erase(it);
        deliver_end_if_done(request, lock);
        it = queue_.begin();  // the lock was released: start over
      } else {
        ++it;
      }
    }
    if (stopping_) return;
    if (queue_.empty()) continue;

    std::vector<Pending> batch;
    const GenerationOptions options = queue_.front().request->options_;
    for (auto it = queue_.begin(); it != queue_.end() && static_cast<int64_t>(batch.size()) < max_batch_sequences_;) {
      if (same_options(it->request->options_, options)) {
        batch.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    running_ = static_cast<int32_t>(batch.size());
    lock.unlock();

    std::vector<std::vector<int64_t>> prompts;
    std::vector<uint64_t> seeds;
    for (const auto& pending : batch) {
      prompts.push_back(pending.sequence.prompt);
      seeds.push_back(pending.sequence.seed);
    }
    const VersionedPolicy::Snapshot policy = policy_->snapshot();
    std::vector<bool> delivered(batch.size(), false);
    int64_t tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    auto finished = [&](size_t row, const GeneratedSequence& sequence) {
      auto& pending = batch[row];
      tokens += static_cast<int64_t>(sequence.tokens.size());
      if (!pending.request->cancelled()) pending.request->on_sequence_({pending.sequence.tag, sequence, policy.version});
      delivered[row] = true;
      std::unique_lock<std::mutex> relock(mutex_);
      --pending.request->outstanding_;
      deliver_end_if_done(pending.request, relock);
    };
    try {
      generate(*policy.model, prompts, seeds, options, finished);
    } catch (const std::exception& error) {
      log_error(std::string("generation failed: ") + error.what());
      for (size_t row = 0; row < batch.size(); ++row) {
        if (delivered[row]) continue;
        batch[row].request->cancel();
        std::unique_lock<std::mutex> relock(mutex_);
        --batch[row].request->outstanding_;
        deliver_end_if_done(batch[row].request, relock);
      }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    lock.lock();
    running_ = 0;
    if (seconds > 0) tokens_per_second_ = static_cast<double>(tokens) / seconds;
  }
}

}  // namespace deltarl
