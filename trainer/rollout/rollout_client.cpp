#include "trainer/rollout/rollout_client.h"

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "core/exception_status.h"

namespace deltarl {

RolloutClient::RolloutClient(WorkerRegistry& workers, RolloutClientOptions options)
    : workers_(workers), options_(std::move(options)) {
  if (!options_.workers.empty() || options_.auth_token) {
    throw std::invalid_argument("RolloutClient: a client sharing a WorkerRegistry takes its addresses and token "
                                "from it; leave RolloutClientOptions::workers and auth_token empty");
  }
}

RolloutClient::RolloutClient(RolloutClientOptions options)
    : owned_workers_(std::make_unique<WorkerRegistry>(options.workers, options.auth_token)),
      workers_(*owned_workers_),
      options_(std::move(options)) {}

void RolloutClient::cancel() {
  std::lock_guard<std::mutex> lock(active_mutex_);
  cancelled_ = true;
  for (grpc::ClientContext* context : active_) context->TryCancel();
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
    const std::vector<size_t> alive = workers_.live_workers();
    if (alive.empty() || std::chrono::system_clock::now() >= deadline) {
      std::string why = alive.empty() ? "no rollout worker is left" : "the deadline passed";
      why += workers_.dead_workers_errors();
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
          const size_t worker = alive[a];
          const std::string& address = workers_.address(worker);
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
          workers_.authorize(context);
          // This worker's samples, kept apart until its stream ends well.
          std::map<size_t, std::map<int32_t, v1::Completion>> received;
          auto stream = workers_.stub(worker).Generate(&context, request);
          v1::Completion completion;
          bool malformed = false;
          while (stream->Read(&completion)) {
            if (options_.on_completion) options_.on_completion(worker, completion);
            auto it = index_of.find(completion.group_id());
            if (it == index_of.end() || completion.sample_index() < 0 || completion.sample_index() >= samples_per_prompt ||
                !received[it->second].emplace(completion.sample_index(), completion).second) {
              malformed = true;  // unknown group or a duplicate: do not trust this stream
            }
          }
          const grpc::Status status = stream->Finish();
          {
            // A stream cancel() ended says nothing about its worker: the registry is shared.
            std::lock_guard<std::mutex> cancelled_lock(active_mutex_);
            if (cancelled_) return;
          }
          std::lock_guard<std::mutex> lock(mutex);
          if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
            rejected = Status(StatusCode::kInvalidArgument, address + " rejected the request: " + status.error_message());
            return;
          }
          if (!status.ok() || malformed) {
            workers_.mark_dead(worker, malformed ? "sent an unknown or duplicate completion"
                                                 : std::to_string(status.error_code()) + " " + status.error_message());
            return;  // every group of this stream is reissued, whole
          }
          for (size_t i : assigned[a]) {
            auto& samples = received[i];
            if (static_cast<int32_t>(samples.size()) != samples_per_prompt) {
              workers_.mark_dead(worker, "ended its stream without all samples of group " +
                                             std::to_string(prompts[i].group_id));
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
          workers_.mark_dead(alive[a], failure.to_string());
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
