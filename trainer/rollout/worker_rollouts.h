// WorkerRollouts: the RolloutSource of a real run: gRPC rollout workers, either
// listed (rollout.workers) or spawned by rank 0 on its own host
// (rollout.spawn_local), shared by every learner rank. Each rank holds one
// WorkerRegistry used by its Generate client and its weight publisher, the
// prompt sampler (the same on every rank), and at most one prefetched round.
//
//   auto rollouts = start_worker_rollouts(options, dataset, host);  // collective
//   uint64_t version = rollouts->first_version();
//   rollouts->publish(model, version);                             // the starting weights
//   for (step...) {
//     StepBatch batch = rollouts->collect(step, version);           // collective
//     rollouts->prefetch(step + 1, version);                        // optional, not collective
//     ...train...
//     std::string error = rollouts->publish(model, ++version);      // collective
//   }
//
// Collective order: every rank must call start_worker_rollouts, collect and
// publish in the same order; prefetch and the destructor issue no collective.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "trainer/comm/communicator.h"
#include "trainer/prompts/prompt_dataset.h"
#include "trainer/prompts/prompt_sampler.h"
#include "trainer/rollout/local_worker_pool.h"
#include "trainer/rollout/rollout_client.h"
#include "trainer/rollout/rollout_fleet.h"
#include "trainer/rollout/rollout_source.h"
#include "trainer/rollout/step_rollouts.h"
#include "trainer/rollout/worker_registry.h"

namespace deltarl {

struct WorkerRolloutsOptions {
  std::vector<std::string> workers;      // "host:port" (rollout.workers); the spawned ones are added after them
  // Workers rank 0 starts on 127.0.0.1 (rollout.spawn_local; 0: none). Every
  // rank must be on rank 0's host: the caller checks. local_workers.count is
  // replaced by spawn_local, and local_workers.threads ≤ 0 means the host's
  // hardware threads shared among them (at least 1 each).
  int64_t spawn_local = 0;
  LocalWorkerPoolOptions local_workers;  // executable, model folder, threads, max batch, log folder (must exist)
  std::string auth_token_file;           // rollout.auth_token_file; "" → $DELTARL_ROLLOUT_TOKEN or none
  double deadline_seconds = 1800;        // one round's generation (rollout.deadline_seconds)
  double version_deadline_seconds = 60;  // for the workers to answer GetStatus at start
  // The step's prompts and sampling; its seed (train.seed) also orders the prompts.
  StepRolloutOptions rollouts;
  bool shuffle_prompts = true;           // data.shuffle
  uint64_t sampler_cursor = 0;           // where the prompts continue (a resumed run's checkpoint)
  PublishOptions publish;                // chunk size and deadline; the token is the registry's
};

class WorkerRollouts final : public RolloutSource {
 public:
  // Cancels a prefetched round still generating and waits for it: no
  // background generation outlives the source.
  ~WorkerRollouts() override;
  WorkerRollouts(const WorkerRollouts&) = delete;
  WorkerRollouts& operator=(const WorkerRollouts&) = delete;

  // The newest version any worker served at start, plus one.
  uint64_t first_version() const override { return first_version_; }

  // Round 0 is the prefetched one when prefetch(step, ...) was called since
  // the last collect (it must be for this step), else drawn now and generated
  // with policies ≥ min_version; then StepRollouts::finish_step (refills use
  // min_version). generation_seconds covers all of it; prompt_cursor is the
  // sampler's position after this step's draws. Collective over the host
  // communicator; throws RolloutsFailed on every rank together.
  StepBatch collect(int64_t step, uint64_t min_version) override;

  // Draws step `step`'s round 0 now (advancing the sampler) and generates
  // this rank's groups of it on a background thread, with policies ≥
  // min_version. Not collective. Requires no round already pending.
  void prefetch(int64_t step, uint64_t min_version) override;

  // This rank sends `model` as `version` to its share of the live workers
  // (worker w to rank w mod world) from one WeightSnapshot; then one
  // all-reduce of the dead flags, so every rank drops the workers any rank
  // found dead. Returns "" or the error, the same on every rank: it fails only
  // when no worker is left. Collective over the host communicator.
  std::string publish(CausalLM& model, uint64_t version) override;

  // The workers every rank agreed were alive at the last publish (before
  // the first, all of them).
  int64_t live_workers() const override { return agreed_live_workers_; }

  // Every worker's address, the spawned ones included, in registry order.
  const std::vector<std::string>& addresses() const { return registry_->addresses(); }
  // What this rank's last publish sent (timings, snapshots, workers).
  const PublishReport& last_publish() const { return last_publish_; }
  // This rank's view of the workers (may know of deaths the others have not
  // yet agreed on).
  const WorkerRegistry& workers() const { return *registry_; }

 private:
  friend std::unique_ptr<WorkerRollouts> start_worker_rollouts(const WorkerRolloutsOptions& options,
                                                                 const PromptDataset& dataset, Communicator& host);
  WorkerRollouts(const WorkerRolloutsOptions& options, const PromptDataset& dataset, Communicator& host,
                 std::unique_ptr<LocalWorkerPool> pool, std::unique_ptr<WorkerRegistry> registry,
                 uint64_t first_version);

  using RoundResult = std::pair<Status, std::vector<RolloutSample>>;
  struct Prefetch {
    RolloutRound round;
    std::future<RoundResult> result;
  };
  void cancel_prefetch();

  // Destroyed last to first: the prefetch before the client it uses, the
  // client and fleet before the registry, the spawned workers last.
  Communicator& host_;
  WorkerRolloutsOptions options_;
  std::unique_ptr<LocalWorkerPool> pool_;
  std::unique_ptr<WorkerRegistry> registry_;
  RolloutFleet fleet_;
  RolloutClient client_;
  StepRollouts rollouts_;
  PromptSampler sampler_;
  uint64_t first_version_;
  int64_t agreed_live_workers_;
  PublishReport last_publish_;
  std::optional<Prefetch> prefetch_;
};

// Starts the rollout side of a run, on every rank together: reads the auth
// token (every rank), spawns the local workers (rank 0, when spawn_local > 0),
// hands rank 0's address list to every rank, and asks the workers which
// version they serve (rank 0; the answer is broadcast). A failure on any rank
// throws on every rank (agree_or_throw): InputError for a bad token file,
// std::runtime_error when workers do not start or none answers. Collective
// over `host`, a CPU communicator; `dataset` and `host` must outlive the result.
std::unique_ptr<WorkerRollouts> start_worker_rollouts(const WorkerRolloutsOptions& options,
                                                       const PromptDataset& dataset, Communicator& host);

}  // namespace deltarl
