#include "trainer/rollout/worker_registry.h"

#include <grpcpp/grpcpp.h>

#include "trainer/rollout/rollout_auth_token.h"

namespace deltarl {

WorkerRegistry::WorkerRegistry(std::vector<std::string> addresses, std::optional<std::string> auth_token)
    : addresses_(std::move(addresses)), auth_token_(std::move(auth_token)) {
  // One channel carries both the Generate streams and the weight uploads: room
  // for a 64 MiB message either way, and a deep receive window so that a
  // worker's completions are not held back while the learner is busy.
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(64 << 20);
  arguments.SetMaxSendMessageSize(64 << 20);
  arguments.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 20);
  for (const auto& address : addresses_) {
    Worker worker;
    worker.address = address;
    worker.stub = v1::RolloutService::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments));
    workers_.push_back(std::move(worker));
  }
}

void WorkerRegistry::authorize(grpc::ClientContext& context) const { authorize_rollout_call(context, auth_token_); }

bool WorkerRegistry::alive(size_t worker) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return workers_.at(worker).alive;
}

std::vector<bool> WorkerRegistry::alive_flags() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<bool> flags;
  for (const auto& worker : workers_) flags.push_back(worker.alive);
  return flags;
}

std::vector<size_t> WorkerRegistry::live_workers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<size_t> live;
  for (size_t w = 0; w < workers_.size(); ++w) {
    if (workers_[w].alive) live.push_back(w);
  }
  return live;
}

size_t WorkerRegistry::live_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t live = 0;
  for (const auto& worker : workers_) live += worker.alive;
  return live;
}

void WorkerRegistry::mark_dead(size_t worker, const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  Worker& entry = workers_.at(worker);
  if (!entry.alive) return;
  entry.alive = false;
  entry.last_error = error;
}

void WorkerRegistry::keep_alive(const std::vector<bool>& alive, const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t w = 0; w < workers_.size() && w < alive.size(); ++w) {
    if (alive[w] || !workers_[w].alive) continue;
    workers_[w].alive = false;
    workers_[w].last_error = error;
  }
}

std::string WorkerRegistry::last_error(size_t worker) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return workers_.at(worker).last_error;
}

std::string WorkerRegistry::dead_workers_errors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string errors;
  for (const auto& worker : workers_) {
    if (!worker.alive) errors += "; " + worker.address + ": " + worker.last_error;
  }
  return errors;
}

}  // namespace deltarl
