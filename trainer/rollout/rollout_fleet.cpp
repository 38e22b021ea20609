#include "trainer/rollout/rollout_fleet.h"

#include <chrono>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "core/exception_status.h"
#include "core/log.h"

namespace deltarl {

RolloutFleet::RolloutFleet(const std::vector<std::string>& addresses, std::optional<std::string> auth_token)
    : auth_token_(std::move(auth_token)) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxSendMessageSize(64 << 20);
  arguments.SetMaxReceiveMessageSize(64 << 20);
  for (const auto& address : addresses) {
    Worker worker;
    worker.address = address;
    worker.stub = v1::RolloutService::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments));
    workers_.push_back(std::move(worker));
  }
}

size_t RolloutFleet::live_workers() const {
  size_t alive = 0;
  for (const auto& worker : workers_) alive += worker.alive;
  return alive;
}

Status RolloutFleet::newest_version(uint64_t* version, double deadline_seconds) {
  *version = 0;
  std::string errors;
  for (auto& worker : workers_) {
    if (!worker.alive) continue;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(deadline_seconds * 1000)));
    context.set_wait_for_ready(true);  // a worker still binding its port gets the deadline to come up
    if (auth_token_) context.AddMetadata("authorization", "Bearer " + *auth_token_);
    v1::WorkerStatus status;
    const grpc::Status result = worker.stub->GetStatus(&context, v1::GetStatusRequest(), &status);
    if (!result.ok()) {
      worker.alive = false;
      errors += "; " + worker.address + ": " + result.error_message();
      log_warning("rollout worker " + worker.address + " does not answer GetStatus (" + result.error_message() +
                  "); continuing without it");
      continue;
    }
    *version = std::max<uint64_t>(*version, status.policy_version());
  }
  if (live_workers() == 0) {
    return Status(StatusCode::kUnavailable, "no rollout worker answers (are the addresses right and the workers "
                                            "started?)" + errors);
  }
  return Status();
}

std::vector<bool> RolloutFleet::alive() const {
  std::vector<bool> alive;
  for (const auto& worker : workers_) alive.push_back(worker.alive);
  return alive;
}

void RolloutFleet::keep_alive(const std::vector<bool>& alive) {
  for (size_t w = 0; w < workers_.size() && w < alive.size(); ++w) workers_[w].alive = workers_[w].alive && alive[w];
}

Status RolloutFleet::publish(Qwen2ForCausalLM& model, uint64_t version, PublishOptions options, int share_index,
                             int share_count) {
  options.auth_token = auth_token_;
  auto mine = [&](size_t w) { return workers_[w].alive && static_cast<int>(w % share_count) == share_index; };
  std::vector<Status> results(workers_.size());
  std::vector<std::thread> uploads;
  size_t sent = 0;
  for (size_t w = 0; w < workers_.size(); ++w) {
    if (!mine(w)) continue;
    ++sent;
    uploads.emplace_back([&, w] {
      try {  // nothing may leave the thread (std::terminate)
        results[w] = publish_weights(*workers_[w].stub, model, version, options);
      } catch (...) {
        results[w] = current_exception_status("publishing weights v" + std::to_string(version));
      }
    });
  }
  for (auto& upload : uploads) upload.join();
  if (sent == 0) return Status();
  std::string errors;
  size_t took = 0;
  for (size_t w = 0; w < workers_.size(); ++w) {
    if (!mine(w)) continue;
    if (results[w].ok()) {
      ++took;
      continue;
    }
    workers_[w].alive = false;
    errors += "; " + workers_[w].address + ": " + results[w].to_string();
    log_warning("rollout worker " + workers_[w].address + " did not take weights v" + std::to_string(version) + " (" +
                results[w].to_string() + "); continuing without it");
  }
  if (took == 0) {
    return Status(StatusCode::kUnavailable,
                  "no rollout worker took weights v" + std::to_string(version) + errors);
  }
  return Status();
}

}  // namespace deltarl
