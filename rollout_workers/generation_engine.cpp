#include "rollout_workers/generation_engine.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <numeric>

#include "core/compute_threads.h"
#include "core/exception_status.h"
#include "core/input_error.h"
#include "core/log.h"
#include "core/model/last_position_logits.h"
#include "core/model/left_padded_batch.h"
#include "core/model/sampler.h"

namespace deltarl {

GenerationEngine::GenerationEngine(std::shared_ptr<VersionedPolicy> policy, EngineOptions options)
    : policy_(std::move(policy)), options_(options) {
  options_.max_batch_sequences = std::max<int64_t>(1, options_.max_batch_sequences);
  if (options_.block_size < 1) throw InputError("the KV cache's block size must be >= 1, got " + std::to_string(options_.block_size));
  const VersionedPolicy::Snapshot served = policy_->snapshot();
  const CausalLM& model = *served.model;
  if (options_.cuda_graphs && !CudaDecodeGraphs::available()) {
    throw InputError("CUDA graphs need deltarl built against a CUDA LibTorch; this build has none");
  }
  if (options_.cuda_graphs && !model->model->embed_tokens->weight.is_cuda()) {
    throw InputError("CUDA graphs need the model on a CUDA device (--device cuda)");
  }
  const ModelConfig& config = model->config();
  const int64_t block = PagedKvCache::block_bytes(config.num_hidden_layers, config.num_key_value_heads,
                                                  config.head_dim(), options_.block_size,
                                                  model->model->embed_tokens->weight.scalar_type());
  const int64_t blocks = options_.kv_cache_bytes / block;
  if (blocks < 1) {
    throw InputError("the KV cache memory of " + std::to_string(options_.kv_cache_bytes) +
                     " bytes is below one block of " + std::to_string(options_.block_size) + " positions (" +
                     std::to_string(block) + " bytes for this model); raise --kv-cache-memory " +
                     "(rollout.worker_kv_cache_memory)");
  }
  if (options_.cuda_graphs && blocks < 2) {
    throw InputError("with CUDA graphs the KV cache needs two blocks at least (one is the padding rows' scratch): " +
                     std::to_string(2 * block) + " bytes; raise --kv-cache-memory");
  }
  pool_ = model->make_paged_cache(options_.block_size, blocks);
  kv_blocks_ = blocks - graph_scratch_blocks();
  block_bytes_ = block;
  take_graph_scratch_block();
  free_kv_blocks_ = blocks;
  thread_ = std::thread([this] { run(); });
}

void GenerationEngine::take_graph_scratch_block() {
  if (!options_.cuda_graphs) return;
  graph_scratch_ = {};
  TORCH_CHECK(pool_->reserve(graph_scratch_, 1), "a new KV pool has no block for the CUDA graphs' scratch");
}

int64_t GenerationEngine::minimum_kv_cache_bytes(int64_t positions) const {
  return PagedKvCache::blocks_for(positions, options_.block_size) * block_bytes_;
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
  // A sequence the pool could never hold fails its request now, not after a wait.
  for (const auto& sequence : sequences) {
    const int64_t positions = static_cast<int64_t>(sequence.prompt.size()) + request->options_.max_new_tokens;
    if (PagedKvCache::blocks_for(positions, options_.block_size) <= kv_blocks_) continue;
    request->ended_ = true;
    lock.unlock();
    request->on_end_(GenerationRequest::End::kFailed,
                     Status(StatusCode::kInvalidArgument,
                            "a prompt of " + std::to_string(sequence.prompt.size()) + " tokens plus max_new_tokens " +
                                std::to_string(request->options_.max_new_tokens) + " needs a KV cache of at least " +
                                std::to_string(minimum_kv_cache_bytes(positions)) + " bytes; this worker's holds " +
                                std::to_string(kv_blocks_ * block_bytes_) + " (--kv-cache-memory, rollout.worker_kv_cache_memory)"));
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
  EngineStatistics statistics;
  statistics.queued_sequences = static_cast<int32_t>(queue_.size());
  statistics.running_sequences = running_;
  statistics.tokens_per_second = tokens_per_second_;
  statistics.kv_blocks = kv_blocks_;
  statistics.free_kv_blocks = free_kv_blocks_;
  statistics.admission_waits = admission_waits_;
  statistics.preemptions = preemptions_;
  statistics.prefill_rows = prefill_rows_;
  return statistics;
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

// One sequence being decoded: its blocks, its random stream, what it generated.
struct GenerationEngine::Running {
  Pending pending;
  std::mt19937_64 random;
  GeneratedSequence generated;
  PagedKvCache::BlockTable table;  // table.length: positions cached (prompt, then tokens fed back)
  int64_t next_token = 0;          // sampled (the last of generated.tokens), not yet fed to the model
  uint64_t admission = 0;          // order of admission; the largest is preempted first
  bool finished = false;
  bool preempted = false;          // its blocks are gone; it leaves the group for preempted_
  bool released = false;           // handed back to its request (release())
};

// The sequences decoding on one policy version.
struct GenerationEngine::VersionGroup {
  VersionedPolicy::Snapshot policy;
  std::vector<Running> running;
};

// A sequence whose blocks went back to the pool, to resume on its own version.
struct GenerationEngine::Preempted {
  Running sequence;
  VersionedPolicy::Snapshot policy;
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

// What a resumed sequence prefills: its prompt and every token fed back so far.
std::vector<int64_t> cached_tokens(const SequenceRequest& sequence, const GeneratedSequence& generated) {
  std::vector<int64_t> tokens = sequence.prompt;
  tokens.insert(tokens.end(), generated.tokens.begin(), generated.tokens.end() - 1);
  return tokens;
}

}  // namespace

void GenerationEngine::take_next_tokens(const torch::Tensor& logits, std::vector<Running*>& sequences) {
  const size_t rows = sequences.size();
  std::vector<const SamplingParams*> params(rows);
  std::vector<std::mt19937_64*> streams(rows);
  std::vector<double> log_prob_temperatures(rows);
  for (size_t r = 0; r < rows; ++r) {
    const GenerationOptions& options = sequences[r]->pending.request->options_;
    params[r] = &options.sampling;
    streams[r] = &sequences[r]->random;
    log_prob_temperatures[r] = options.log_prob_temperature();
  }
  // On the logits' device; only the ids and log-probs come back.
  const SampledTokens sampled = sample_tokens_with_log_probs(logits, params, streams, log_prob_temperatures);
  for (size_t r = 0; r < rows; ++r) {
    Running& sequence = *sequences[r];
    sequence.next_token = sampled.tokens[r];
    sequence.finished =
        record(sequence.next_token, sampled.log_probs[r], sequence.pending.request->options_, sequence.generated);
  }
}

void GenerationEngine::release(Running& sequence, uint64_t version, bool deliver) {
  sequence.released = true;
  pool_->release(sequence.table);
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

GenerationEngine::VersionGroup& GenerationEngine::group_of_version(Groups& groups,
                                                                    const VersionedPolicy::Snapshot& policy) {
  for (auto& group : groups) {
    if (group->policy.version == policy.version) return *group;
  }
  auto group = std::make_unique<VersionGroup>();
  group->policy = policy;
  // Groups stay in version order: the newest last.
  auto position = std::find_if(groups.begin(), groups.end(), [&](const std::unique_ptr<VersionGroup>& g) {
    return g->policy.version > policy.version;
  });
  return **groups.insert(position, std::move(group));
}

torch::Tensor GenerationEngine::prefill(VersionGroup& group, const std::vector<std::vector<int64_t>>& prompts,
                                        const std::vector<PagedKvCache::BlockTable*>& tables) {
  CausalLM& model = *group.policy.model;
  const auto device = model->model->embed_tokens->weight.device();
  const int64_t count = static_cast<int64_t>(prompts.size());
  const LeftPaddedBatch padded = left_pad(prompts);
  const int64_t longest = padded.longest;
  KvCache dense = model->make_cache(count, longest);
  const torch::Tensor logits =
      last_position_logits(model, padded.ids.to(device), padded.mask.to(device), padded.positions.to(device), &dense);  // (count, vocab)
  for (int64_t i = 0; i < count; ++i) {
    PagedKvCache::BlockTable& table = *tables[static_cast<size_t>(i)];
    const int64_t length = static_cast<int64_t>(prompts[static_cast<size_t>(i)].size());
    TORCH_CHECK(pool_->reserve(table, length), "prefill: the pool lacks the blocks admission counted");
    const torch::Tensor slots = torch::tensor(pool_->slots(table, 0, length), torch::kInt64).to(device);
    for (int64_t layer = 0; layer < pool_->num_layers(); ++layer) {
      // (kv, longest, d) of row i → its last `length` positions as (length, kv, d)
      const auto positions_of = [&](const torch::Tensor& stored) {
        return stored[i].narrow(1, longest - length, length).permute({1, 0, 2});
      };
      pool_->write(layer, slots, positions_of(dense.keys(layer)), positions_of(dense.values(layer)));
    }
    table.length = length;
  }
  prefill_rows_ += count;  // read by statistics() under the lock; a torn read is harmless
  return logits;
}

void GenerationEngine::admit(Groups& groups, std::unique_lock<std::mutex>& lock) {
  size_t running = 0;
  for (const auto& group : groups) running += group->running.size();
  const int64_t reserve_for_growth = std::max<int64_t>(1, pool_->num_blocks() / 100);
  int64_t free_blocks = pool_->free_blocks();
  // Blocks admission may still hand out: all of them when nothing runs (the
  // oldest preempted sequence, or a first prompt, always fits then).
  const auto room = [&](size_t admitted) {
    return free_blocks - (running + admitted > 0 ? reserve_for_growth : 0);
  };
  const auto batch_full = [&](size_t admitted) {
    return static_cast<int64_t>(running + admitted) >= options_.max_batch_sequences;
  };
  const int64_t block_size = pool_->block_size();
  bool waited = false;
  // 1. Preempted sequences, oldest first, each with its own prefill.
  std::vector<Preempted> resumed;
  lock.unlock();
  while (!preempted_.empty() && !batch_full(resumed.size())) {
    Preempted& next = preempted_.front();
    // Its prompt and the tokens fed back (its table is empty now), and the next token's slot.
    const int64_t cached = static_cast<int64_t>(next.sequence.pending.sequence.prompt.size() +
                                                next.sequence.generated.tokens.size()) - 1;
    const int64_t blocks = PagedKvCache::blocks_for(cached + 1, block_size);
    if (blocks > room(resumed.size())) {
      waited = true;
      break;
    }
    free_blocks -= blocks;
    resumed.push_back(std::move(next));
    preempted_.pop_front();
  }
  // 2. Queued prompt groups (new sequences only once no preempted one waits),
  // each group as many samples as fit.
  struct Admitted {
    std::vector<Pending> samples;
  };
  std::vector<Admitted> admitted;
  size_t admitted_sequences = resumed.size();
  lock.lock();
  while (preempted_.empty() && !queue_.empty() && !batch_full(admitted_sequences)) {
    // Copies: the samples leave the queue as they are taken.
    const std::shared_ptr<GenerationRequest> request = queue_.front().request;
    const std::vector<int64_t> shared_prompt = queue_.front().sequence.prompt;
    const int64_t prompt = static_cast<int64_t>(shared_prompt.size());
    // The last sample keeps the prompt's own blocks; every other one shares
    // them and takes one block of its own: the copy of a partly filled last
    // block, or the block its first token opens. The first sample's cost is
    // blocks_for(prompt + 1), which submit() checked against the pool.
    Admitted group;
    int64_t blocks = PagedKvCache::blocks_for(prompt + 1, block_size);
    while (!queue_.empty() && !batch_full(admitted_sequences + group.samples.size()) &&
           queue_.front().request == request && queue_.front().sequence.prompt == shared_prompt &&
           blocks + (group.samples.empty() ? 0 : 1) <= room(admitted_sequences + group.samples.size())) {
      if (!group.samples.empty()) blocks += 1;
      group.samples.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (group.samples.empty()) {
      waited = !batch_full(admitted_sequences);
      break;
    }
    free_blocks -= blocks;
    admitted_sequences += group.samples.size();
    admitted.push_back(std::move(group));
  }
  if (waited) ++admission_waits_;
  lock.unlock();
  // Resumed sequences: prefilled again, then decoding on with the token they had sampled.
  for (auto& entry : resumed) {
    Running& sequence = entry.sequence;
    try {
      VersionGroup& group = group_of_version(groups, entry.policy);
      sequence.preempted = false;
      prefill(group, {cached_tokens(sequence.pending.sequence, sequence.generated)}, {&sequence.table});
      group.running.push_back(std::move(sequence));
    } catch (...) {
      Status failure = current_exception_status("prefill failed");
      log_error(failure.to_string());
      fail(*sequence.pending.request, failure);
      release(sequence, entry.policy.version, /*deliver=*/false);
    }
  }
  if (!admitted.empty()) {
    std::vector<Running> fresh;
    uint64_t version = 0;
    std::vector<PagedKvCache::BlockTable> prompt_tables(admitted.size());
    try {
      // New sequences go to the current version's group.
      const VersionedPolicy::Snapshot policy = policy_->snapshot();
      version = policy.version;
      VersionGroup& group = group_of_version(groups, policy);
      std::vector<std::vector<int64_t>> prompts;
      std::vector<PagedKvCache::BlockTable*> tables;
      for (size_t g = 0; g < admitted.size(); ++g) {
        prompts.push_back(admitted[g].samples.front().sequence.prompt);
        tables.push_back(&prompt_tables[g]);
      }
      const torch::Tensor logits = prefill(group, prompts, tables);
      // Each sample shares its prompt's blocks (the last one takes them over)
      // and samples from its row.
      std::vector<int64_t> rows;
      for (size_t g = 0; g < admitted.size(); ++g) {
        auto& samples = admitted[g].samples;
        for (size_t i = 0; i < samples.size(); ++i) {
          Running sequence;
          sequence.random.seed(samples[i].sequence.seed);
          sequence.admission = ++admissions_;
          if (i + 1 < samples.size()) {
            TORCH_CHECK(pool_->share(prompt_tables[g], sequence.table), "admission: no block for a prompt's copy");
          } else {
            sequence.table = std::move(prompt_tables[g]);
            prompt_tables[g] = {};
          }
          sequence.pending = std::move(samples[i]);  // last: the catch below tells moved entries by this
          fresh.push_back(std::move(sequence));
          rows.push_back(static_cast<int64_t>(g));
        }
      }
      std::vector<Running*> sampled;
      for (auto& sequence : fresh) sampled.push_back(&sequence);
      const torch::Tensor row_of_sample = torch::tensor(rows, torch::kInt64).to(logits.device());
      take_next_tokens(logits.index_select(0, row_of_sample), sampled);
      for (auto& sequence : fresh) {
        if (sequence.finished) {
          release(sequence, version, /*deliver=*/true);
        } else {
          group.running.push_back(std::move(sequence));
        }
      }
    } catch (...) {
      // The newcomers not yet released or running fail; the running ones are intact.
      Status failure = current_exception_status("prefill failed");
      log_error(failure.to_string());
      for (auto& table : prompt_tables) pool_->release(table);
      for (auto& group : admitted) {
        for (auto& pending : group.samples) {
          if (!pending.request) continue;  // moved into `fresh`
          Running sequence;
          sequence.pending = std::move(pending);
          fail(*sequence.pending.request, failure);
          release(sequence, version, /*deliver=*/false);
        }
      }
      for (auto& sequence : fresh) {
        if (!sequence.pending.request || sequence.released) continue;  // moved into its group, or released
        fail(*sequence.pending.request, failure);
        release(sequence, version, /*deliver=*/false);
      }
    }
  }
  lock.lock();
}

void GenerationEngine::make_room_for_next_tokens(Groups& groups) {
  std::vector<Running*> by_age;
  for (auto& group : groups) {
    for (auto& sequence : group->running) by_age.push_back(&sequence);
  }
  std::sort(by_age.begin(), by_age.end(), [](const Running* a, const Running* b) { return a->admission < b->admission; });
  size_t newest = by_age.size();  // by_age[newest..] are preempted
  for (size_t i = 0; i < newest; ++i) {
    Running& sequence = *by_age[i];
    while (!pool_->reserve(sequence.table, sequence.table.length + 1)) {
      // The newest sequence still running gives its blocks back, this one last.
      Running& victim = *by_age[--newest];
      pool_->release(victim.table);
      victim.preempted = true;
      ++preemptions_;
      if (&victim == &sequence) break;
    }
  }
  // The preempted leave their groups, to resume oldest first.
  std::vector<Preempted> leaving;
  for (auto& group : groups) {
    auto& running = group->running;
    for (auto& sequence : running) {
      if (sequence.preempted) leaving.push_back({std::move(sequence), group->policy});
    }
    running.erase(std::remove_if(running.begin(), running.end(), [](const Running& s) { return s.preempted; }),
                  running.end());
  }
  for (auto& entry : leaving) preempted_.push_back(std::move(entry));
  std::sort(preempted_.begin(), preempted_.end(),
            [](const Preempted& a, const Preempted& b) { return a.sequence.admission < b.sequence.admission; });
}

void GenerationEngine::step(VersionGroup& group) {
  CausalLM& model = *group.policy.model;
  const auto device = model->model->embed_tokens->weight.device();
  const int64_t batch = static_cast<int64_t>(group.running.size());
  std::vector<int64_t> tokens, positions;
  std::vector<const PagedKvCache::BlockTable*> tables;
  std::vector<Running*> sequences;
  for (Running& sequence : group.running) {
    tokens.push_back(sequence.next_token);
    positions.push_back(sequence.table.length);
    tables.push_back(&sequence.table);
    sequences.push_back(&sequence);
  }
  torch::Tensor logits;  // one token for every sequence, each at its own position
  if (options_.cuda_graphs) {
    auto& graphs = decode_graphs_[model.get()];
    if (!graphs) {
      graphs = std::make_unique<CudaDecodeGraphs>(model, *pool_, options_.max_batch_sequences,
                                                  graph_scratch_.blocks.front() * pool_->block_size());
    }
    logits = graphs->decode(tokens, tables);
  } else {
    PagedDecodeBatch paged(*pool_, tables);
    logits = model->decode_paged(torch::tensor(tokens).view({batch, 1}).to(device),
                                 torch::tensor(positions).view({batch, 1}).to(device), paged);
  }
  for (Running& sequence : group.running) sequence.table.length += 1;
  take_next_tokens(logits, sequences);
}

void GenerationEngine::run() {
  torch::NoGradGuard no_grad;
  Groups groups;
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
          sequence.table = {};  // the pool goes with the rest: no block is given back to it
          fail(*sequence.pending.request, failure);
          release(sequence, group->policy.version, /*deliver=*/false);
        }
      }
      for (auto& entry : preempted_) {
        if (!entry.sequence.pending.request || entry.sequence.released) continue;
        entry.sequence.table = {};
        fail(*entry.sequence.pending.request, failure);
        release(entry.sequence, entry.policy.version, /*deliver=*/false);
      }
      groups.clear();
      preempted_.clear();
      decode_graphs_.clear();  // captured over the pool that goes next
      // Whatever the failure left allocated goes with a fresh pool.
      pool_.reset();
      pool_ = (*policy_->snapshot().model)->make_paged_cache(options_.block_size, kv_blocks_ + graph_scratch_blocks());
      take_graph_scratch_block();
      lock.lock();
      running_ = 0;
    }
  }
}

bool GenerationEngine::run_once(Groups& groups, std::unique_lock<std::mutex>& lock) {
  auto running_count = [&] {
    size_t count = 0;
    for (const auto& group : groups) count += group->running.size();
    return count + preempted_.size();
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
  // Preempted sequences of cancelled requests are dropped too.
  if (std::any_of(preempted_.begin(), preempted_.end(),
                  [](const Preempted& entry) { return entry.sequence.pending.request->cancelled(); })) {
    lock.unlock();
    for (auto& entry : preempted_) {
      if (entry.sequence.pending.request->cancelled()) release(entry.sequence, entry.policy.version, /*deliver=*/false);
    }
    preempted_.erase(std::remove_if(preempted_.begin(), preempted_.end(),
                                    [](const Preempted& entry) { return entry.sequence.released; }),
                     preempted_.end());
    lock.lock();
  }
  if (stopping_ && running_count() == 0) return false;
  const auto start = std::chrono::steady_clock::now();
  size_t stepped = 0;
  admit(groups, lock);  // when stopping, the queue is empty: preempted sequences resume
  lock.unlock();
  make_room_for_next_tokens(groups);
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
    // Finished and cancelled sequences leave, their blocks back in the pool.
    for (Running& sequence : running) {
      const bool cancelled = sequence.pending.request->cancelled();
      if (sequence.finished || cancelled) {
        release(sequence, group->policy.version, /*deliver=*/sequence.finished && !cancelled);
      }
    }
    running.erase(std::remove_if(running.begin(), running.end(), [](const Running& s) { return s.released; }),
                  running.end());
  }
  // A group is dropped once its last sequence is done, the current version's
  // too: an idle engine holds no model snapshot, so the model an upload
  // retires can be refilled at once (VersionedPolicy::take_retired), and no
  // idle version's KV cache stays allocated. The next admission makes a new one.
  groups.erase(std::remove_if(groups.begin(), groups.end(),
                              [](const std::unique_ptr<VersionGroup>& g) { return g->running.empty(); }),
               groups.end());
  // Graphs stay with their model across uploads (filled in place, the worker's
  // two models alternate), but beyond two models those no group uses go.
  for (auto it = decode_graphs_.begin(); decode_graphs_.size() > 2 && it != decode_graphs_.end();) {
    const bool used = std::any_of(groups.begin(), groups.end(), [&](const std::unique_ptr<VersionGroup>& g) {
      return g->policy.model->get() == it->first;
    });
    it = used ? std::next(it) : decode_graphs_.erase(it);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  lock.lock();
  running_ = static_cast<int32_t>(running_count());
  free_kv_blocks_ = pool_->free_blocks();
  if (seconds > 0 && stepped > 0) tokens_per_second_ = 0.8 * tokens_per_second_ + 0.2 * (stepped / seconds);
  return true;
}

}  // namespace deltarl
