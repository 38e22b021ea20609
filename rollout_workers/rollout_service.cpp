#include "rollout_workers/rollout_service.h"

#include "core/compute_threads.h"

#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/build_identity.h"
#include "core/exception_status.h"
#include "core/input_error.h"
#include "core/tasks/task_verifier.h"
#include "core/tokenizer/response_text.h"
#include "rollout_workers/generate_request.h"
#include "rollout_workers/weight_upload.h"

namespace deltarl {

namespace {

grpc::Status to_grpc(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, status.message());
    case StatusCode::kFailedPrecondition: return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, status.message());
    case StatusCode::kDataLoss: return grpc::Status(grpc::StatusCode::DATA_LOSS, status.message());
    case StatusCode::kNotFound: return grpc::Status(grpc::StatusCode::NOT_FOUND, status.message());
    case StatusCode::kUnavailable: return grpc::Status(grpc::StatusCode::UNAVAILABLE, status.message());
    default: return grpc::Status(grpc::StatusCode::INTERNAL, status.message());
  }
}

// Streams completions as the engine finishes them. Lives until OnDone; the
// engine's callbacks reach it only through `state_`, and Finish is called only
// after the engine's last callback (on_end), so none can outlive it.
class GenerateReactor final : public grpc::ServerWriteReactor<v1::Completion> {
 public:
  GenerateReactor(std::shared_ptr<GenerationEngine> engine, std::shared_ptr<const Tokenizer> tokenizer,
                  const v1::GenerateRequest& request, const RolloutServiceOptions& options, grpc::Status auth)
      : state_(std::make_shared<State>()) {
    state_->reactor = this;
    if (!auth.ok()) {
      Finish(auth);
      return;
    }
    try {
      start(std::move(engine), std::move(tokenizer), request, options);
    } catch (...) {
      Finish(to_grpc(current_exception_status("")));
    }
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(state_->mutex);
    state_->writing = false;
    if (!ok) {  // the client went away: stop generating for it
      state_->write_failed = true;
      if (state_->handle) state_->handle->cancel();
    }
    progress(lock);
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->write_failed = true;
    if (state_->handle) state_->handle->cancel();
  }

  void OnDone() override { delete this; }

 private:
  struct State {
    std::mutex mutex;
    GenerateReactor* reactor = nullptr;
    std::shared_ptr<GenerationRequest> handle;
    std::deque<v1::Completion> pending;
    v1::Completion in_flight;
    bool writing = false, write_failed = false, ended = false, finished = false;
    GenerationRequest::End end = GenerationRequest::End::kCompleted;
    Status failure;  // why the engine ended the request, when it failed it
  };

  void start(std::shared_ptr<GenerationEngine> engine, std::shared_ptr<const Tokenizer> tokenizer,
             const v1::GenerateRequest& request, const RolloutServiceOptions& options) {
    const VersionedPolicy::Snapshot policy = engine->policy().snapshot();
    const ModelConfig& config = (*policy.model)->config();
    if (request.min_policy_version() > policy.version) {
      Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "worker serves policy version " + std::to_string(policy.version) + ", request needs >= " +
                              std::to_string(request.min_policy_version()) + " (weights not published yet?)"));
      return;
    }
    GenerateWork work = validate_generate_request(request, config, options.max_sequences_per_request);
    const GenerationOptions& generation = work.generation;
    auto verifiers = work.verifiers;
    std::vector<SequenceRequest> sequences = std::move(work.sequences);
    const std::vector<uint64_t> group_ids = std::move(work.group_ids);
    const int32_t samples = work.samples_per_prompt;
    const int64_t model_vocab_size = config.vocab_size;  // uploads keep every shape
    auto state = state_;
    auto on_sequence = [state, tokenizer, verifiers, group_ids, samples, model_vocab_size](FinishedSequence finished) {
      const size_t prompt = finished.tag / static_cast<uint64_t>(samples);
      v1::Completion completion;
      completion.set_group_id(group_ids[prompt]);
      completion.set_sample_index(static_cast<int32_t>(finished.tag % static_cast<uint64_t>(samples)));
      // Every sampled id is kept, padding rows included (Note [Output ids beyond the tokenizer]).
      for (int64_t id : finished.generated.tokens) completion.add_token_ids(static_cast<int32_t>(id));
      for (float lp : finished.generated.log_probs) completion.add_log_probs(lp);
      completion.set_length(completion.token_ids_size());
      completion.set_finish_reason(finished.generated.finish_reason == "stop" ? v1::FINISH_REASON_STOP
                                                                              : v1::FINISH_REASON_LENGTH);
      completion.set_policy_version(finished.policy_version);
      const TaskVerifier& verifier = (*verifiers)[prompt];
      if (!verifier.task().empty()) {
        const TaskVerdict verdict =
            verifier.score(response_text(*tokenizer, finished.generated.tokens, model_vocab_size));
        completion.set_reward(verdict.reward);
        completion.set_reward_outcome(verdict.outcome);
      }
      std::unique_lock<std::mutex> lock(state->mutex);
      if (state->write_failed) return;
      state->pending.push_back(std::move(completion));
      state->reactor->progress(lock);
    };
    auto on_end = [state](GenerationRequest::End end, const Status& failure) {
      std::unique_lock<std::mutex> lock(state->mutex);
      state->ended = true;
      state->end = end;
      state->failure = failure;
      state->reactor->progress(lock);
    };
    auto handle = engine->submit(std::move(sequences), generation, on_sequence, on_end);
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->handle = std::move(handle);
  }

  // Starts the next write, or finishes once the engine is done and all is written.
  void progress(std::unique_lock<std::mutex>& lock) {
    State& s = *state_;
    if (s.finished || s.writing) return;
    if (s.write_failed) s.pending.clear();
    if (!s.pending.empty()) {
      s.in_flight = std::move(s.pending.front());
      s.pending.pop_front();
      s.writing = true;
      lock.unlock();
      StartWrite(&s.in_flight);
      return;
    }
    if (!s.ended) return;
    s.finished = true;
    grpc::Status status = grpc::Status::OK;
    if (s.write_failed || s.end == GenerationRequest::End::kCancelled) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "generation cancelled (client gone or worker stopping)");
    } else if (s.end == GenerationRequest::End::kFailed) {
      // The request's input was validated before it was admitted, and the
      // engine fails a whole batch at once: whatever failed here is the
      // worker's, never this caller's bad input (which would make the learner
      // give up on the groups instead of reissuing them).
      status = grpc::Status(grpc::StatusCode::INTERNAL, "generation failed: " + s.failure.message());
    }
    lock.unlock();
    Finish(status);
  }

  std::shared_ptr<State> state_;
};

// Reads the chunks of one upload; verifying and building the model happen on
// a thread of its own once the client has sent everything.
class LoadWeightsReactor final : public grpc::ServerReadReactor<v1::WeightChunk> {
 public:
  LoadWeightsReactor(std::shared_ptr<VersionedPolicy> policy, v1::LoadWeightsReply* reply, grpc::Status auth)
      : policy_(std::move(policy)), reply_(reply) {
    if (!auth.ok()) {
      Finish(auth);
      return;
    }
    try {
      const VersionedPolicy::Snapshot current = policy_->snapshot();
      // The standby, when free now, receives the chunks in place. It stays this
      // upload's until OnDone: an upload running beside it (a retry while a
      // stalled stream has not yet timed out) stages its chunks and builds a
      // model of its own instead.
      standby_ = policy_->take_retired();
      upload_.emplace(*current.model, current.version, standby_.get());
    } catch (...) {
      Finish(to_grpc(current_exception_status("starting the upload")));
      return;
    }
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client has sent its last chunk
      try {
        std::thread([this] { apply(); }).detach();  // Finish (and so OnDone) comes at its end
      } catch (...) {  // no thread to be had
        Finish(to_grpc(current_exception_status("installing the upload")));
      }
      return;
    }
    Status added;
    try {
      added = upload_->add(chunk_);
    } catch (...) {
      added = current_exception_status("reading an upload chunk");
    }
    if (!added.ok()) {
      Finish(to_grpc(added));
      return;
    }
    StartRead(&chunk_);
  }

  void OnDone() override {
    // A failed or refused upload leaves the standby's contents undefined; it
    // still serves as the buffer the next upload fills.
    if (standby_) policy_->return_standby(std::move(standby_));
    delete this;
  }

 private:
  void apply() {
    Status result;
    try {
      CausalLM model{nullptr};
      if (!standby_) standby_ = policy_->take_retired();  // freed while the chunks arrived
      result = upload_->finish(&model, standby_.get());
      if (result.ok()) {
        policy_->install(std::move(model), upload_->version());
        standby_.reset();  // it is the served model now
      }
    } catch (const InputError& error) {
      result = Status(StatusCode::kInvalidArgument, error.what());
    } catch (const std::exception& error) {
      result = Status(StatusCode::kFailedPrecondition, error.what());
    } catch (...) {  // nothing may leave this thread
      result = current_exception_status("installing the upload");
    }
    release_compute_threads();  // this thread's OpenMP pool would slow the engine's (compute_threads.h)
    if (result.ok()) {
      reply_->set_version(upload_->version());
      reply_->set_tensors(upload_->tensor_count());
      reply_->set_bytes(upload_->byte_count());
    }
    Finish(to_grpc(result));
  }

  std::shared_ptr<VersionedPolicy> policy_;
  v1::LoadWeightsReply* reply_;
  v1::WeightChunk chunk_;
  std::shared_ptr<CausalLM> standby_;  // declared before upload_, which points into it
  std::optional<WeightUpload> upload_;
};

}  // namespace

RolloutService::RolloutService(std::shared_ptr<VersionedPolicy> policy, std::shared_ptr<GenerationEngine> engine,
                               std::shared_ptr<const Tokenizer> tokenizer, RolloutServiceOptions options)
    : policy_(std::move(policy)), engine_(std::move(engine)), tokenizer_(std::move(tokenizer)),
      options_(std::move(options)) {}

grpc::ServerReadReactor<v1::WeightChunk>* RolloutService::LoadWeights(grpc::CallbackServerContext* context,
                                                                      v1::LoadWeightsReply* reply) {
  return new LoadWeightsReactor(policy_, reply, check_auth(context));
}

grpc::Status RolloutService::check_auth(grpc::CallbackServerContext* context) const {
  if (!options_.auth_token) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end() || std::string(it->second.data(), it->second.size()) != "Bearer " + *options_.auth_token) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing or wrong \"authorization: Bearer <token>\" metadata (the worker requires its token)");
  }
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1::Completion>* RolloutService::Generate(grpc::CallbackServerContext* context,
                                                                    const v1::GenerateRequest* request) {
  return new GenerateReactor(engine_, tokenizer_, *request, options_, check_auth(context));
}

grpc::ServerUnaryReactor* RolloutService::GetStatus(grpc::CallbackServerContext* context,
                                                    const v1::GetStatusRequest* /*request*/, v1::WorkerStatus* reply) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const grpc::Status auth = check_auth(context);
  if (!auth.ok()) {
    reactor->Finish(auth);
    return reactor;
  }
  try {
    const EngineStatistics statistics = engine_->statistics();
    const VersionedPolicy::Snapshot policy = engine_->policy().snapshot();
    const ModelConfig& config = (*policy.model)->config();
    reply->set_policy_version(policy.version);
    reply->set_queued_sequences(statistics.queued_sequences);
    reply->set_running_sequences(statistics.running_sequences);
    reply->set_tokens_per_second(statistics.tokens_per_second);
    reply->set_healthy(true);
    reply->set_model(std::string(model_type_name(config.family)) + " " + std::to_string(config.num_hidden_layers) +
                     "x" + std::to_string(config.hidden_size) + " vocab " + std::to_string(config.vocab_size));
    reply->set_build(this_build().description());
    reply->set_kv_blocks(statistics.kv_blocks);
    reply->set_free_kv_blocks(statistics.free_kv_blocks);
    reply->set_admission_waits(statistics.admission_waits);
    reply->set_preemptions(statistics.preemptions);
    reply->set_prefill_rows(statistics.prefill_rows);
  } catch (...) {
    reactor->Finish(to_grpc(current_exception_status("GetStatus")));
    return reactor;
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace deltarl
