#include "trainer/rollout/rollout_client.h"

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "core/exception_status.h"

namespace deltarl {

RolloutClient::RolloutClient(RolloutClientOptions options) : options_(std::move(options)) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(64 << 20);
  arguments.SetMaxSendMessageSize(64 << 20);
  arguments.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 20);
  for (const auto& address : options_.workers) {
    Worker worker;
    worker.address = address;
    worker.stub = v1::RolloutService::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments));
    workers_.push_back(std::move(worker));
  }
}

void RolloutClient::cancel() {
  std::lock_guard<std::mutex> lock(active_mutex_);
  cancelled_ = true;
  for (grpc::ClientContext* context : active_) context->TryCancel();
}

size_t RolloutClient::live_workers() const {
  size_t alive = 0;
  for (const auto& worker : workers_) alive += worker.alive;
  return alive;
}

Status RolloutClient::generate(const std::vector<PromptGroup>& prompts, int32_t samples_per_prompt,
                               const v1::SamplingParams& sampling, uint64_t min_policy_version,
                               std::vector<GroupCompletions>* groups) {
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(options_.deadline_seconds * 1000));
  std::map<uint64_t, size_t> index_of;  // group id → position in `prompts`
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (!index_of.emplace(prompts[i].group_id, i).second) {
      return Status(StatusCode::kInvalidArgument, "group id " + std::to_string(prompts[i].group_id) + " appears twice");
    }
  }
  std::vector<GroupCompletions> done(prompts.size());
  std::vector<bool> complete(prompts.size(), false);
  std::vector<size_t> waiting(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) waiting[i] = i;

  while (!waiting.empty()) {
    {
      std::lock_guard<std::mutex> lock(active_mutex_);
      if (cancelled_) return Status(StatusCode::kUnavailable, "generation was cancelled");
    }
    std::vector<size_t> alive;
    for (size_t w = 0; w < workers_.size(); ++w) {
      if (workers_[w].alive) alive.push_back(w);
    }
    if (alive.empty() || std::chrono::system_clock::now() >= deadline) {
      std::string why = alive.empty() ? "no rollout worker is left" : "the deadline passed";
      for (const auto& worker : workers_) {
        if (!worker.last_error.empty()) why += "; " + worker.address + ": " + worker.last_error;
      }
      return Status(StatusCode::kUnavailable, std::to_string(waiting.size()) + " of " + std::to_string(prompts.size()) +
                                                  " prompt groups could not be generated: " + why);
    }
    // Deal the waiting groups over the live workers, one stream each.
    std::vector<std::vector<size_t>> assigned(alive.size());
    for (size_t k = 0; k < waiting.size(); ++k) assigned[k % alive.size()].push_back(waiting[k]);
    std::mutex mutex;
    Status rejected;
    std::vector<std::thread> streams;
    for (size_t a = 0; a < alive.size(); ++a) {
      if (assigned[a].empty()) continue;
      streams.emplace_back([&, a] {
        // Nothing may leave this thread (std::terminate): a failure here fails this worker's stream.
        try {
          Worker& worker = workers_[alive[a]];
          v1::GenerateRequest request;
          for (size_t i : assigned[a]) {
            v1::Prompt* prompt = request.add_prompts();
            prompt->set_group_id(prompts[i].group_id);
            prompt->mutable_token_ids()->Add(prompts[i].token_ids.begin(), prompts[i].token_ids.end());
            prompt->set_task(prompts[i].task);
            prompt->set_task_payload_json(prompts[i].task_payload_json);
            if (prompts[i].seed) prompt->set_seed(*prompts[i].seed);
          }
          request.set_samples_per_prompt(samples_per_prompt);
          *request.mutable_sampling() = sampling;
          request.set_min_policy_version(min_policy_version);
          grpc::ClientContext context;
          {
            std::lock_guard<std::mutex> lock(active_mutex_);
            if (cancelled_) return;
            active_.insert(&context);
          }
          struct Unregister {
            RolloutClient* client;
            grpc::ClientContext* context;
            ~Unregister() {
              std::lock_guard<std::mutex> lock(client->active_mutex_);
              client->active_.erase(context);
            }
          } unregister{this, &context};
          context.set_deadline(deadline);
          if (options_.auth_token) context.AddMetadata("authorization", "Bearer " + *options_.auth_token);
          // This worker's samples, kept apart until its stream ends well.
          std::map<size_t, std::map<int32_t, v1::Completion>> received;
          auto stream = worker.stub->Generate(&context, request);
          v1::Completion completion;
          bool malformed = false;
          while (stream->Read(&completion)) {
            if (options_.on_completion) options_.on_completion(alive[a], completion);
            auto it = index_of.find(completion.group_id());
            if (it == index_of.end() || completion.sample_index() < 0 || completion.sample_index() >= samples_per_prompt ||
                !received[it->second].emplace(completion.sample_index(), completion).second) {
              malformed = true;  // unknown group or a duplicate: do not trust this stream
            }
          }
          const grpc::Status status = stream->Finish();
          std::lock_guard<std::mutex> lock(mutex);
          if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
            rejected = Status(StatusCode::kInvalidArgument, worker.address + " rejected the request: " + status.error_message());
            return;
          }
          if (!status.ok() || malformed) {
            worker.alive = false;
            worker.last_error = malformed ? "sent an unknown or duplicate completion"
                                          : std::to_string(status.error_code()) + " " + status.error_message();
            return;  // every group of this stream is reissued, whole
          }
          for (size_t i : assigned[a]) {
            auto& samples = received[i];
            if (static_cast<int32_t>(samples.size()) != samples_per_prompt) {
              worker.alive = false;
              worker.last_error = "ended its stream without all samples of group " + std::to_string(prompts[i].group_id);
              return;
            }
          }
          for (size_t i : assigned[a]) {
            done[i].group_id = prompts[i].group_id;
            for (auto& [sample, kept] : received[i]) done[i].samples.push_back(std::move(kept));
            complete[i] = true;
          }
        } catch (...) {
          const Status failure = current_exception_status("reading its stream");
          std::lock_guard<std::mutex> lock(mutex);
          workers_[alive[a]].alive = false;
          workers_[alive[a]].last_error = failure.to_string();
        }
      });
    }
    for (auto& stream : streams) stream.join();
    if (!rejected.ok()) return rejected;
    std::vector<size_t> still_waiting;
    for (size_t i : waiting) {
      if (!complete[i]) still_waiting.push_back(i);
    }
    waiting.swap(still_waiting);
  }
  *groups = std::move(done);
  return Status();
}

}  // namespace deltarl
