// RolloutSource: where a training step's samples come from, and where each new
// policy version goes. The training run sees the rollout workers only through
// this interface: WorkerRollouts (worker_rollouts.h) is the real one, over
// gRPC; a test drives the real training step with an in-process source.
//
//   StepBatch batch = source.collect(step, version);   // collective
//   source.prefetch(step + 1, version);                // one-step-off: not collective
//   ...train...
//   std::string error = source.publish(model, ++version);  // collective
#pragma once

#include <cstdint>
#include <string>

#include "core/model/causal_lm.h"
#include "trainer/rollout/step_batch.h"

namespace deltarl {

class RolloutSource {
 public:
  virtual ~RolloutSource() = default;

  // The version this run's starting weights are published as; the same on
  // every rank (workers may have served an earlier run: versions only grow).
  virtual uint64_t first_version() const = 0;

  // This rank's samples of step `step`: its groups of round 0 (prefetched or
  // generated now), filtered and refilled when the config asks, renumbered
  // 0..groups-1, from policies ≥ min_version, with the phase's duration
  // (StepBatch::generation_seconds) and prompt cursor. Collective over the host
  // communicator: all ranks call it once per step. Throws RolloutsFailed on
  // every rank together when generation failed on any rank.
  virtual StepBatch collect(int64_t step, uint64_t min_version) = 0;

  // Starts generating step `step`'s first round in the background, for the
  // next collect() (one-step-off overlap). Not collective; the same on every rank.
  virtual void prefetch(int64_t step, uint64_t min_version) = 0;

  // Sends `model` to every live worker as `version`. Collective: returns "" or
  // the error, the same on every rank; it fails only when no worker took it.
  virtual std::string publish(CausalLM& model, uint64_t version) = 0;

  // Workers still in use, as every rank agreed at the last publish.
  virtual int64_t live_workers() const = 0;
};

}  // namespace deltarl
