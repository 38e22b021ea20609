// RolloutFleet: the control plane from the learners to the rollout workers:
// which policy version they serve (GetStatus) and publishing new weights
// (LoadWeights, one thread per worker). Every learner rank holds the same
// weights after a step, so each uploads to its own share of the workers
// (worker w goes to rank w mod world): rank 0's link no longer carries every
// upload (docs/scaling.md). A worker that fails a publish is dropped, on every
// rank once they exchange their views (`keep_alive`); publishing fails only
// when no worker took the new weights.
//
//   RolloutFleet fleet(addresses, token);                 // on every rank
//   Status s = fleet.publish(model, version, options, rank, world);
//   fleet.keep_alive(agreed_alive);                        // the ranks' views, combined
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/qwen2_model.h"
#include "core/status.h"
#include "trainer/rollout/weight_publisher.h"

namespace deltarl {

class RolloutFleet {
 public:
  RolloutFleet(const std::vector<std::string>& addresses, std::optional<std::string> auth_token);

  // The highest version any live worker serves, through GetStatus. Workers that
  // do not answer within `deadline_seconds` are dropped; kUnavailable when none answers.
  Status newest_version(uint64_t* version, double deadline_seconds = 60);

  // Sends `model` as `version` to the live workers w with w % share_count ==
  // share_index, in parallel. Fails only when none of them took it (a share
  // with no live worker succeeds: there was nothing to send).
  Status publish(Qwen2ForCausalLM& model, uint64_t version, PublishOptions options, int share_index = 0,
                 int share_count = 1);

  size_t live_workers() const;
  size_t size() const { return workers_.size(); }
  // Liveness per worker, as this fleet sees it; and dropping the workers
  // another view found dead (`alive[w] == false`).
  std::vector<bool> alive() const;
  void keep_alive(const std::vector<bool>& alive);

 private:
  struct Worker {
    std::string address;
    std::unique_ptr<v1::RolloutService::Stub> stub;
    bool alive = true;
  };
  std::vector<Worker> workers_;
  std::optional<std::string> auth_token_;
};

}  // namespace deltarl
