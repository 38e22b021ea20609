// LocalWorkerPool: rollout workers the trainer starts itself on 127.0.0.1
// (`rollout.spawn_local: N`), for single-machine runs. Each is a `deltarl
// rollout` child process on a free port, logging to its own file; the pool
// waits until every worker is serving. The destructor sends SIGTERM, waits,
// then SIGKILLs; workers also get SIGTERM if the trainer dies (PR_SET_PDEATHSIG).
//
//   LocalWorkerPool pool({.executable = "/proc/self/exe", .model_folder = dir, .count = 2, ...});
//   RolloutClient client({.workers = pool.addresses()});
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace deltarl {

struct LocalWorkerPoolOptions {
  std::string executable = "/proc/self/exe";  // the deltarl binary
  std::string model_folder;
  int64_t count = 2;
  int64_t threads = 1;                         // LibTorch threads per worker
  int64_t max_batch = 64;
  std::string kv_cache_memory;                 // --kv-cache-memory; empty: the workers' default
  bool cuda_graphs = false;                    // --cuda-graphs
  std::string device = "cpu";                  // --device
  // Processes sharing this host's memory, the workers included, which the
  // workers' default KV budget divides free memory by (DELTARL_PROCESSES_PER_HOST).
  int64_t processes_per_host = 1;
  std::string log_folder;                      // worker-K.log; must exist
  double start_timeout_seconds = 300;
};

class LocalWorkerPool {
 public:
  // Starts the workers and waits until each has bound its port. Throws
  // std::runtime_error naming the worker and its log when one exits or does not
  // come up within the timeout (the others are stopped first).
  explicit LocalWorkerPool(const LocalWorkerPoolOptions& options);
  ~LocalWorkerPool();
  LocalWorkerPool(const LocalWorkerPool&) = delete;
  LocalWorkerPool& operator=(const LocalWorkerPool&) = delete;

  const std::vector<std::string>& addresses() const { return addresses_; }
  const std::vector<pid_t>& pids() const { return pids_; }

  // SIGTERM to every worker still running, then SIGKILL after `grace_seconds`.
  void stop(double grace_seconds = 10);

 private:
  std::vector<pid_t> pids_;
  std::vector<std::string> addresses_;
};

}  // namespace deltarl
