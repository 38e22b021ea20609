// RolloutFleet: the control plane from the learners to the rollout workers:
// which policy version they serve (GetStatus) and publishing new weights
// (LoadWeights, one thread per worker). Every learner rank holds the same
// weights after a step, so each uploads to its own share of the workers
// (worker w goes to rank w mod world): rank 0's link no longer carries every
// upload (docs/scaling.md). Each rank takes one WeightSnapshot per version and
// sends it to all of its share. A worker that fails a publish is marked dead
// in the WorkerRegistry the fleet shares with the Generate client, and on
// every rank once they exchange their views (WorkerRegistry::keep_alive);
// publishing fails only when no worker took the new weights.
//
//   WorkerRegistry workers(addresses, token);             // on every rank
//   RolloutFleet fleet(workers);
//   Status s = fleet.publish(model, version, options, rank, world, &report);
//   workers.keep_alive(agreed_alive);                      // the ranks' views, combined
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/causal_lm.h"
#include "core/status.h"
#include "trainer/rollout/weight_publisher.h"
#include "trainer/rollout/worker_registry.h"

namespace deltarl {

// What one rank's publish of one version did.
struct PublishReport {
  int64_t snapshots = 0;        // device→host snapshots taken: 1, or 0 when the share had no live worker
  int64_t workers_sent = 0;     // live workers of this rank's share, each sent the snapshot
  int64_t workers_took = 0;     // of those, the ones that installed it
  uint64_t bytes_sent = 0;      // the snapshot's bytes times workers_sent
  double snapshot_seconds = 0;  // taking the snapshot
  double upload_seconds = 0;    // sending it to every worker of the share, in parallel
};

class RolloutFleet {
 public:
  // Shares `workers` (which must outlive the fleet) with the other users of
  // the registry.
  explicit RolloutFleet(WorkerRegistry& workers);
  // A fleet with a registry of its own (tools and tests with no Generate client).
  RolloutFleet(const std::vector<std::string>& addresses, std::optional<std::string> auth_token);

  // The highest version any live worker serves, through GetStatus. Workers that
  // do not answer within `deadline_seconds` are marked dead; kUnavailable when none answers.
  Status newest_version(uint64_t* version, double deadline_seconds = 60);

  // Sends `model` as `version` to the live workers w with w % share_count ==
  // share_index, in parallel, from one WeightSnapshot taken here (none when the
  // share has no live worker). Workers that fail are marked dead. Fails
  // (kUnavailable) only when none of them took it (a share with no live worker
  // succeeds: there was nothing to send). `options.auth_token` is replaced by
  // the registry's. `report`, when given, says what was sent.
  Status publish(CausalLM& model, uint64_t version, PublishOptions options, int share_index = 0,
                 int share_count = 1, PublishReport* report = nullptr);

  WorkerRegistry& workers() { return workers_; }
  size_t live_workers() const { return workers_.live_count(); }
  size_t size() const { return workers_.size(); }

 private:
  std::unique_ptr<WorkerRegistry> owned_workers_;  // set only by the address-list constructor
  WorkerRegistry& workers_;
};

}  // namespace deltarl
