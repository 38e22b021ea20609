// WorkerRegistry: the rollout workers one learner rank talks to, one entry per
// worker: its address, its gRPC stub, whether it is still in use, and why not.
// The Generate client (RolloutClient) and the control plane (RolloutFleet:
// versions, publishing) share one registry, so a worker either finds dead is
// no longer used by the other. Thread-safe: the client's stream threads, a
// background prefetch and the publisher's upload threads use it at once.
//
//   WorkerRegistry workers(addresses, read_rollout_auth_token(token_file));
//   RolloutFleet fleet(workers);
//   RolloutClient client(workers, client_options);
//
// Workers are numbered by their position in `addresses`; that number is the
// same on every rank (ranks agree on liveness as vectors indexed by it).
// Liveness only goes one way: a worker marked dead stays dead.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "deltarl/v1/rollout.grpc.pb.h"

namespace grpc {
class ClientContext;
}

namespace deltarl {

class WorkerRegistry {
 public:
  // One channel per worker ("host:port"), created lazily by gRPC: nothing is
  // contacted here. `auth_token` goes with every call (authorize()).
  WorkerRegistry(std::vector<std::string> addresses, std::optional<std::string> auth_token);
  WorkerRegistry(const WorkerRegistry&) = delete;
  WorkerRegistry& operator=(const WorkerRegistry&) = delete;

  size_t size() const { return workers_.size(); }
  // The address and stub never change: safe to use without further locking
  // (a gRPC stub may be used by several threads at once). Requires worker < size().
  const std::string& address(size_t worker) const { return workers_.at(worker).address; }
  v1::RolloutService::Stub& stub(size_t worker) const { return *workers_.at(worker).stub; }
  const std::vector<std::string>& addresses() const { return addresses_; }

  // Adds this fleet's "authorization: Bearer <token>" to a call (nothing
  // without a token).
  void authorize(grpc::ClientContext& context) const;
  const std::optional<std::string>& auth_token() const { return auth_token_; }

  bool alive(size_t worker) const;
  std::vector<bool> alive_flags() const;      // indexed by worker
  std::vector<size_t> live_workers() const;   // the live workers' numbers, ascending
  size_t live_count() const;

  // Stops using `worker`, keeping `error` (what the caller saw) for messages.
  // Marking an already dead worker again keeps its first error.
  void mark_dead(size_t worker, const std::string& error);
  // Stops using every worker w with alive[w] == false (another rank's view,
  // as agreed); entries past alive.size() are left as they are.
  void keep_alive(const std::vector<bool>& alive, const std::string& error = "dropped by another rank");

  // The error a worker was marked dead with ("" while alive).
  std::string last_error(size_t worker) const;
  // "; <address>: <error>" for every worker marked dead, for error messages.
  std::string dead_workers_errors() const;

 private:
  struct Worker {
    std::string address;
    std::unique_ptr<v1::RolloutService::Stub> stub;
    bool alive = true;
    std::string last_error;
  };
  std::vector<std::string> addresses_;
  std::vector<Worker> workers_;  // the vector itself never changes after construction
  std::optional<std::string> auth_token_;
  mutable std::mutex mutex_;     // guards Worker::alive and Worker::last_error
};

}  // namespace deltarl
