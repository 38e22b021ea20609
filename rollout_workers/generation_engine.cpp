#include "rollout_workers/generation_engine.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/log.h"
#include "core/model/token_log_probs.h"

namespace deltarl {

namespace {


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

// One sequence being decoded: its own KV cache and random stream.
struct GenerationEngine::Running {
  Pending pending;
  VersionedPolicy::Snapshot policy;
  std::unique_ptr<KvCache> cache;  // (1, kv, prompt + max_new_tokens, d)
  std::mt19937_64 random;
  GeneratedSequence generated;
  int64_t next_token = 0;          // sampled, not yet fed to the model
  bool finished = false;
};

namespace {

// Picks the next token from `logits` (vocab,) and records it; true when the sequence is done.
bool choose(const torch::Tensor& logits, const GenerationOptions& options, std::mt19937_64& random,
            GeneratedSequence& generated, int64_t* token) {
  *token = sample_token(logits, options.sampling, random);
  const double temperature = options.sampling.temperature > 0 ? options.sampling.temperature : 1.0;
  const float log_prob = token_log_probs(logits.unsqueeze(0), torch::tensor({*token}), temperature).item<float>();
  generated.tokens.push_back(*token);
  generated.log_probs.push_back(log_prob);
  const bool stop = std::find(options.stop_token_ids.begin(), options.stop_token_ids.end(), *token) !=
                    options.stop_token_ids.end();
  if (stop || static_cast<int64_t>(generated.tokens.size()) >= options.max_new_tokens) {
    generated.finish_reason = stop ? "stop" : "length";
    return true;
  }
  return false;
}

}  // namespace

void GenerationEngine::release(Running& sequence, bool deliver) {
  auto& request = sequence.pending.request;
  if (deliver && !request->cancelled()) {
    request->on_sequence_({sequence.pending.sequence.tag, sequence.generated, sequence.policy.version});
  }
  std::unique_lock<std::mutex> lock(mutex_);
  --request->outstanding_;
  deliver_end_if_done(request, lock);
}

void GenerationEngine::admit(std::vector<Running>& running, std::unique_lock<std::mutex>& lock) {
  std::vector<Pending> admitted;
  while (!queue_.empty() && static_cast<int64_t>(running.size() + admitted.size()) < max_batch_sequences_) {
    admitted.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  lock.unlock();
  const VersionedPolicy::Snapshot policy = policy_->snapshot();
  for (auto& pending : admitted) {
    Running sequence;
    sequence.pending = std::move(pending);
    sequence.policy = policy;
    sequence.random.seed(sequence.pending.sequence.seed);
    const GenerationOptions& options = sequence.pending.request->options_;
    const auto& prompt = sequence.pending.sequence.prompt;
    Qwen2ForCausalLM& model = *policy.model;
    try {  // prefill the prompt into the sequence's own cache and pick its first token
      sequence.cache = std::make_unique<KvCache>(
          model->make_cache(1, static_cast<int64_t>(prompt.size()) + options.max_new_tokens));
      const torch::Tensor ids = torch::tensor(prompt).unsqueeze(0).to(model->model->embed_tokens->weight.device());
      const torch::Tensor logits = model->forward(ids, {}, {}, sequence.cache.get());  // (1, P, vocab)
      sequence.finished = choose(logits[0][logits.size(1) - 1], options, sequence.random, sequence.generated,
                                 &sequence.next_token);
    } catch (const std::exception& error) {
      log_error(std::string("prefill failed: ") + error.what());
      sequence.pending.request->cancel();
      release(sequence, /*deliver=*/false);
      continue;
    }
    if (sequence.finished) {
      release(sequence, /*deliver=*/true);
      continue;
    }
    running.push_back(std::move(sequence));
  }
  lock.lock();
}

void GenerationEngine::step(std::vector<Running>& running) {
  // One forward per policy version: sequences admitted before a weight swap
  // finish on their own weights.
  std::map<uint64_t, std::vector<size_t>> by_version;
  for (size_t i = 0; i < running.size(); ++i) by_version[running[i].policy.version].push_back(i);
  for (const auto& [version, rows] : by_version) {
    Qwen2ForCausalLM& model = *running[rows.front()].policy.model;
    const auto device = model->model->embed_tokens->weight.device();
    const int64_t batch = static_cast<int64_t>(rows.size());
    int64_t longest = 0;
    for (size_t i : rows) longest = std::max(longest, running[i].cache->length());
    // Each sequence's cache, right-aligned at `longest`, in one batch cache with room for the new token.
    KvCache batch_cache = model->make_cache(batch, longest + 1);
    torch::Tensor mask = torch::zeros({batch, longest + 1}, torch::kInt64);
    torch::Tensor positions = torch::zeros({batch, 1}, torch::kInt64);
    torch::Tensor tokens = torch::zeros({batch, 1}, torch::kInt64);
    for (int64_t r = 0; r < batch; ++r) {
      Running& sequence = running[rows[static_cast<size_t>(r)]];
      const int64_t length = sequence.cache->length(), offset = longest - length;
      for (int64_t layer = 0; layer < batch_cache.num_layers(); ++layer) {
        batch_cache.keys(layer)[r].narrow(1, offset, length).copy_(sequence.cache->keys(layer)[0].narrow(1, 0, length));
        batch_cache.values(layer)[r].narrow(1, offset, length).copy_(sequence.cache->values(layer)[0].narrow(1, 0, length));
      }
      mask[r].narrow(0, offset, length + 1).fill_(1);
      positions[r][0] = length;
      tokens[r][0] = sequence.next_token;
    }
    batch_cache.set_length(longest);
    torch::Tensor logits = model->forward(tokens.to(device), mask.to(device), positions.to(device), &batch_cache);  // (b, 1, vocab)
    torch::Tensor last = logits.select(1, 0).to(torch::kCPU);
    for (int64_t r = 0; r < batch; ++r) {
      Running& sequence = running[rows[static_cast<size_t>(r)]];
      const int64_t length = sequence.cache->length();
      for (int64_t layer = 0; layer < batch_cache.num_layers(); ++layer) {  // keep the new position
        sequence.cache->keys(layer)[0].narrow(1, length, 1).copy_(batch_cache.keys(layer)[r].narrow(1, longest, 1));
        sequence.cache->values(layer)[0].narrow(1, length, 1).copy_(batch_cache.values(layer)[r].narrow(1, longest, 1));
      }
      sequence.cache->advance(1);
      sequence.finished = choose(last[r], sequence.pending.request->options_, sequence.random, sequence.generated,
                                 &sequence.next_token);
    }
  }
}

void GenerationEngine::run() {
  torch::NoGradGuard no_grad;
  std::vector<Running> running;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !running.empty(); });
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
    if (stopping_ && running.empty()) return;
    const auto start = std::chrono::steady_clock::now();
    int64_t tokens = 0;
    try {
      if (!stopping_) admit(running, lock);
      lock.unlock();
      // Cancelled requests' running sequences leave without a result.
      for (auto& sequence : running) {
        if (sequence.pending.request->cancelled() && !sequence.finished) {
          sequence.finished = true;
          release(sequence, /*deliver=*/false);
          sequence.pending.request.reset();
        }
      }
      running.erase(std::remove_if(running.begin(), running.end(), [](const Running& s) { return !s.pending.request; }),
                    running.end());
      if (!running.empty()) {
        step(running);
        tokens = static_cast<int64_t>(running.size());
        for (auto& sequence : running) {
          if (sequence.finished) release(sequence, /*deliver=*/true);
        }
        running.erase(std::remove_if(running.begin(), running.end(), [](const Running& s) { return s.finished; }),
                      running.end());
      }
    } catch (const std::exception& error) {
      log_error(std::string("generation failed: ") + error.what());
      if (lock.owns_lock()) lock.unlock();  // release() takes the lock itself
      for (auto& sequence : running) {
        sequence.pending.request->cancel();
        release(sequence, /*deliver=*/false);
      }
      running.clear();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!lock.owns_lock()) lock.lock();
    running_ = static_cast<int32_t>(running.size());
    if (seconds > 0 && tokens > 0) tokens_per_second_ = 0.8 * tokens_per_second_ + 0.2 * (tokens / seconds);
  }
}

}  // namespace deltarl
