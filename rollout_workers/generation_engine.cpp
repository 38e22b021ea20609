#include "rollout_workers/generation_engine.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>

#include "core/compute_threads.h"
#include "core/exception_status.h"
#include "core/log.h"
#include "core/model/last_position_logits.h"
#include "core/model/token_log_probs.h"

namespace deltarl {

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
    request->on_end_(stopping_ ? GenerationRequest::End::kCancelled : GenerationRequest::End::kCompleted, Status());
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
  const Status failure = request->failure_;
  const auto end = !failure.ok()          ? GenerationRequest::End::kFailed
                   : request->cancelled() ? GenerationRequest::End::kCancelled
                                          : GenerationRequest::End::kCompleted;
  lock.unlock();  // never call out while holding the engine's lock
  try {
    request->on_end_(end, failure);
  } catch (...) {
    log_error(current_exception_status("a request's end callback failed (ignored)").to_string());
  }
  lock.lock();
}

void GenerationEngine::fail(GenerationRequest& request, Status failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (request.failure_.ok()) request.failure_ = std::move(failure);
  request.cancel();
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

// One sequence being decoded: its row in its version group's cache, its random stream.
struct GenerationEngine::Running {
  Pending pending;
  std::mt19937_64 random;
  GeneratedSequence generated;
  int64_t length = 0;      // positions in its cache row
  int64_t next_token = 0;  // sampled, not yet fed to the model
  bool finished = false;
  bool released = false;   // handed back to its request (release())
};

// The sequences decoding on one policy version, packed in rows 0..n-1 of a cache.
struct GenerationEngine::VersionGroup {
  VersionedPolicy::Snapshot policy;
  std::unique_ptr<KvCache> cache;  // (max_batch, kv, capacity, d), per-row mode
  std::vector<Running> running;    // running[r] lives in cache row r
};

namespace {

// Loop failures in a row, each after a fresh start, before the engine gives up.
constexpr int kMaxConsecutiveLoopFailures = 3;

// Appends a sampled token and its log-prob; true when the sequence is done.
bool record(int64_t token, float log_prob, const GenerationOptions& options, GeneratedSequence& generated) {
  generated.tokens.push_back(token);
  generated.log_probs.push_back(log_prob);
  const char* reason = options.finish_reason(token, static_cast<int64_t>(generated.tokens.size()));
  if (reason == nullptr) return false;
  generated.finish_reason = reason;
  return true;
}

// Copies cache row `from` (its first `length` columns) to row `to`, every layer.
void move_row(KvCache& cache, int64_t from, int64_t to, int64_t length) {
  for (int64_t layer = 0; layer < cache.num_layers(); ++layer) {
    cache.keys(layer)[to].narrow(1, 0, length).copy_(cache.keys(layer)[from].narrow(1, 0, length));
    cache.values(layer)[to].narrow(1, 0, length).copy_(cache.values(layer)[from].narrow(1, 0, length));
  }
}

}  // namespace

void GenerationEngine::take_next_tokens(const torch::Tensor& logits, std::vector<Running>& sequences) {
  const torch::Tensor on_host = logits.to(torch::kCPU);
  const size_t rows = sequences.size();
  std::vector<const SamplingParams*> params(rows);
  std::vector<std::mt19937_64*> streams(rows);
  std::vector<float> temperatures(rows);
  for (size_t r = 0; r < rows; ++r) {
    const GenerationOptions& options = sequences[r].pending.request->options_;
    params[r] = &options.sampling;
    streams[r] = &sequences[r].random;
    temperatures[r] = static_cast<float>(options.log_prob_temperature());
  }
  const std::vector<int64_t> tokens = sample_tokens(on_host, params, streams);
  // Log-probs for all rows at once, each row at its own temperature.
  const torch::Tensor scaled = on_host / torch::tensor(temperatures, torch::kFloat32).unsqueeze(1);
  const torch::Tensor log_probs = token_log_probs(scaled, torch::tensor(tokens, torch::kInt64), 1.0).contiguous();
  const float* log_prob = log_probs.data_ptr<float>();
  for (size_t r = 0; r < rows; ++r) {
    Running& sequence = sequences[r];
    sequence.next_token = tokens[r];
    sequence.finished = record(sequence.next_token, log_prob[r], sequence.pending.request->options_, sequence.generated);
  }
}

void GenerationEngine::release(Running& sequence, uint64_t version, bool deliver) {
  sequence.released = true;
  auto request = sequence.pending.request;
  if (deliver && !request->cancelled()) {
    try {
      request->on_sequence_({sequence.pending.sequence.tag, sequence.generated, version});
    } catch (...) {
      Status failure = current_exception_status("completing sequence " + std::to_string(sequence.pending.sequence.tag));
      log_error("request failed: " + failure.to_string());
      fail(*request, std::move(failure));
    }
  }
  std::unique_lock<std::mutex> lock(mutex_);
  --request->outstanding_;
  deliver_end_if_done(request, lock);
}

void GenerationEngine::admit(std::vector<std::unique_ptr<VersionGroup>>& groups, std::unique_lock<std::mutex>& lock) {
  size_t running = 0;
  for (const auto& group : groups) running += group->running.size();
  std::vector<Pending> admitted;
  while (!queue_.empty() && static_cast<int64_t>(running + admitted.size()) < max_batch_sequences_) {
    admitted.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  lock.unlock();
  if (admitted.empty()) {
    lock.lock();
    return;
  }
  std::vector<Running> fresh;
  uint64_t version = 0;
  try {
    // New sequences go to the current version's group (made when the version is new).
    const VersionedPolicy::Snapshot policy = policy_->snapshot();
    version = policy.version;
    if (groups.empty() || groups.back()->policy.version != policy.version) {
      auto group = std::make_unique<VersionGroup>();
      group->policy = policy;
      groups.push_back(std::move(group));
    }
    VersionGroup& group = *groups.back();
    Qwen2ForCausalLM& model = *group.policy.model;
    const auto device = model->model->embed_tokens->weight.device();
    // Room in the group's cache for the longest newcomer: grow it (keeping the rows) when needed.
    int64_t needed = 0, longest_prompt = 0;
    for (const auto& pending : admitted) {
      const int64_t prompt = static_cast<int64_t>(pending.sequence.prompt.size());
      needed = std::max(needed, prompt + pending.request->options_.max_new_tokens);
      longest_prompt = std::max(longest_prompt, prompt);
    }
    if (!group.cache || group.cache->capacity() < needed) {
      const int64_t capacity = std::max<int64_t>(needed, group.cache ? group.cache->capacity() * 2 : 0);
      auto grown = std::make_unique<KvCache>(model->make_cache(max_batch_sequences_, capacity));
      if (group.cache) {
        for (int64_t layer = 0; layer < grown->num_layers(); ++layer) {
          const int64_t old = group.cache->capacity();
          grown->keys(layer).narrow(2, 0, old).copy_(group.cache->keys(layer));
          grown->values(layer).narrow(2, 0, old).copy_(group.cache->values(layer));
        }
      }
      group.cache = std::move(grown);
    }
    // Prefill all newcomers in one left-padded batch, then move each into the next free row.
    const int64_t count = static_cast<int64_t>(admitted.size());
    torch::Tensor ids = torch::zeros({count, longest_prompt}, torch::kInt64);
    torch::Tensor mask = torch::zeros({count, longest_prompt}, torch::kInt64);
    for (int64_t i = 0; i < count; ++i) {
      const auto& prompt = admitted[static_cast<size_t>(i)].sequence.prompt;
      const int64_t offset = longest_prompt - static_cast<int64_t>(prompt.size());
      ids[i].narrow(0, offset, static_cast<int64_t>(prompt.size())).copy_(torch::tensor(prompt));
      mask[i].narrow(0, offset, static_cast<int64_t>(prompt.size())).fill_(1);
    }
    const torch::Tensor positions = (mask.cumsum(1) - 1).clamp_min(0);
    KvCache prefill = model->make_cache(count, longest_prompt);
    const torch::Tensor logits =
        last_position_logits(model, ids.to(device), mask.to(device), positions.to(device), &prefill)
            .to(torch::kCPU);  // (count, vocab)
    for (int64_t i = 0; i < count; ++i) {
      Running sequence;
      sequence.pending = std::move(admitted[static_cast<size_t>(i)]);
      sequence.random.seed(sequence.pending.sequence.seed);
      const int64_t length = static_cast<int64_t>(sequence.pending.sequence.prompt.size());
      const int64_t row = static_cast<int64_t>(group.running.size() + fresh.size());
      for (int64_t layer = 0; layer < prefill.num_layers(); ++layer) {
        group.cache->keys(layer)[row].narrow(1, 0, length).copy_(prefill.keys(layer)[i].narrow(1, longest_prompt - length, length));
        group.cache->values(layer)[row].narrow(1, 0, length).copy_(prefill.values(layer)[i].narrow(1, longest_prompt - length, length));
      }
      sequence.length = length;
      fresh.push_back(std::move(sequence));
    }
    take_next_tokens(logits, fresh);
    // Fresh sequence i was written to row base + i. One that finished on its first
    // token leaves; the rest move down into consecutive rows after the running ones.
    const int64_t base = static_cast<int64_t>(group.running.size());
    for (size_t i = 0; i < fresh.size(); ++i) {
      Running& sequence = fresh[i];
      if (sequence.finished) {
        release(sequence, group.policy.version, /*deliver=*/true);
        continue;
      }
      const int64_t written = base + static_cast<int64_t>(i), row = static_cast<int64_t>(group.running.size());
      if (row != written) move_row(*group.cache, written, row, sequence.length);
      group.running.push_back(std::move(sequence));
    }
  } catch (...) {
    // The newcomers not yet released or running fail; the running rows are intact.
    Status failure = current_exception_status("prefill failed");
    log_error(failure.to_string());
    for (auto& pending : admitted) {
      if (!pending.request) continue;  // moved into `fresh`
      Running sequence;
      sequence.pending = std::move(pending);
      fail(*sequence.pending.request, failure);
      release(sequence, version, /*deliver=*/false);
    }
    for (auto& sequence : fresh) {
      if (!sequence.pending.request || sequence.released) continue;  // moved into its group, or released
      fail(*sequence.pending.request, failure);
      release(sequence, version, /*deliver=*/false);
    }
  }
  lock.lock();
}

void GenerationEngine::step(VersionGroup& group) {
  Qwen2ForCausalLM& model = *group.policy.model;
  const auto device = model->model->embed_tokens->weight.device();
  const int64_t batch = static_cast<int64_t>(group.running.size());
  std::vector<int64_t> lengths;
  for (const auto& sequence : group.running) lengths.push_back(sequence.length);
  group.cache->use_row_lengths(lengths);
  const int64_t longest = group.cache->length();
  // Built on the host in one go: per-row tensor indexing costs microseconds per op.
  std::vector<int64_t> mask_values(static_cast<size_t>(batch * (longest + 1)), 0), position_values, token_values;
  for (int64_t r = 0; r < batch; ++r) {
    const Running& sequence = group.running[static_cast<size_t>(r)];
    std::fill_n(mask_values.begin() + r * (longest + 1), sequence.length + 1, int64_t{1});
    position_values.push_back(sequence.length);
    token_values.push_back(sequence.next_token);
  }
  const torch::Tensor mask = torch::tensor(mask_values).view({batch, longest + 1});
  const torch::Tensor positions = torch::tensor(position_values).view({batch, 1});
  const torch::Tensor tokens = torch::tensor(token_values).view({batch, 1});
  // One token for every row, each at its own position. (b, 1, vocab) → (b, vocab)
  const torch::Tensor logits =
      model->forward(tokens.to(device), mask.to(device), positions.to(device), group.cache.get()).select(1, 0);
  for (Running& sequence : group.running) sequence.length += 1;
  take_next_tokens(logits, group.running);
}

void GenerationEngine::run() {
  torch::NoGradGuard no_grad;
  std::vector<std::unique_ptr<VersionGroup>> groups;
  std::unique_lock<std::mutex> lock(mutex_);
  int consecutive_failures = 0;
  while (true) {
    try {
      if (!run_once(groups, lock)) return;
      consecutive_failures = 0;
    } catch (...) {
      // The loop's own bookkeeping failed (rows, caches): what was running may be
      // inconsistent, so its requests fail and the caches go; the queue and the
      // policy are intact, and the next iteration starts afresh.
      const Status failure = current_exception_status("the generation loop failed");
      if (++consecutive_failures >= kMaxConsecutiveLoopFailures) {
        // Failing again from a fresh start: the engine's state is lost. End the
        // process with a message rather than spin; learners reissue its work.
        log_error(failure.to_string() + " (" + std::to_string(consecutive_failures) +
                  " times in a row from a fresh start): the worker cannot go on, exiting with code 1");
        std::_Exit(1);
      }
      log_error(failure.to_string() + "; failing the running requests and starting again");
      if (lock.owns_lock()) lock.unlock();
      for (auto& group : groups) {
        for (auto& sequence : group->running) {
          if (!sequence.pending.request || sequence.released) continue;
          fail(*sequence.pending.request, failure);
          release(sequence, group->policy.version, /*deliver=*/false);
        }
      }
      groups.clear();
      lock.lock();
      running_ = 0;
    }
  }
}

bool GenerationEngine::run_once(std::vector<std::unique_ptr<VersionGroup>>& groups, std::unique_lock<std::mutex>& lock) {
  auto running_count = [&] {
    size_t count = 0;
    for (const auto& group : groups) count += group->running.size();
    return count;
  };
  if (!stopping_ && queue_.empty() && running_count() == 0) {
    // Idle: other threads may compute meanwhile (see compute_threads.h).
    lock.unlock();
    release_compute_threads();
    lock.lock();
  }
  wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || running_count() > 0; });
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
  if (stopping_ && running_count() == 0) return false;
  const auto start = std::chrono::steady_clock::now();
  size_t stepped = 0;
  if (!stopping_) admit(groups, lock);
  lock.unlock();
  for (auto& group : groups) {
    auto& running = group->running;
    try {
      if (!running.empty()) {
        step(*group);
        stepped += running.size();
      }
    } catch (...) {
      const Status failure = current_exception_status("generation step failed");
      log_error(failure.to_string());
      for (auto& sequence : running) {
        fail(*sequence.pending.request, failure);
        sequence.finished = true;
      }
    }
    // Finished and cancelled sequences leave; the last row moves into each gap.
    for (size_t r = 0; r < running.size();) {
      Running& sequence = running[r];
      const bool cancelled = sequence.pending.request->cancelled();
      if (!sequence.finished && !cancelled) {
        ++r;
        continue;
      }
      release(sequence, group->policy.version, /*deliver=*/sequence.finished && !cancelled);
      const size_t last = running.size() - 1;
      if (r != last) {
        move_row(*group->cache, static_cast<int64_t>(last), static_cast<int64_t>(r), running[last].length);
        running[r] = std::move(running[last]);
      }
      running.pop_back();
    }
  }
  // A group is dropped once its last sequence is done, the current version's
  // too: an idle engine holds no model snapshot, so the model an upload
  // retires can be refilled at once (VersionedPolicy::take_retired), and no
  // idle version's KV cache stays allocated. The next admission makes a new one.
  groups.erase(std::remove_if(groups.begin(), groups.end(),
                              [](const std::unique_ptr<VersionGroup>& g) { return g->running.empty(); }),
               groups.end());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  lock.lock();
  running_ = static_cast<int32_t>(running_count());
  if (seconds > 0 && stepped > 0) tokens_per_second_ = 0.8 * tokens_per_second_ + 0.2 * (stepped / seconds);
  return true;
}

}  // namespace deltarl
