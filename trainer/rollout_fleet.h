// RolloutFleet: the control plane from learner rank 0 to the rollout workers:
// which policy version they serve (GetStatus) and publishing new weights to
// all of them at once (LoadWeights, one thread per worker). A worker that fails
// a publish is dropped from the fleet with a warning (it can no longer serve the
// current version, so the RolloutClient stops using it too); publishing fails
// only when no worker took the new weights.
//
//   RolloutFleet fleet(addresses, token);
//   uint64_t version = fleet.newest_version() + 1;
//   Status s = fleet.publish(model, version, PublishOptions{});
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/qwen2_model.h"
#include "core/status.h"
#include "trainer/weight_publisher.h"

namespace deltarl {

class RolloutFleet {
 public:
  RolloutFleet(const std::vector<std::string>& addresses, std::optional<std::string> auth_token);

  // The highest version any live worker serves, through GetStatus. Workers that
  // do not answer within `deadline_seconds` are dropped; kUnavailable when none answers.
  Status newest_version(uint64_t* version, double deadline_seconds = 60);

  // Sends `model` as `version` to every live worker in parallel.
  Status publish(Qwen2ForCausalLM& model, uint64_t version, PublishOptions options);

  size_t live_workers() const;

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
