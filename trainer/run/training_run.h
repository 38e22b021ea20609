// run_training(): `deltarl train` on one learner rank, from setup to the last
// step (shared/DESIGN.md §1). Every step: rollouts from the workers (this
// rank's shard of the step's prompt groups), samples balanced across ranks by
// tokens, ONE all-reduce of the group statistics, the PPO-clip update with
// group-global weights, gradient all-reduce, AdamW, and the new weights
// published to every worker before the next rollout. Held-out evaluation every
// eval.every steps (sharded over ranks). Metrics go to the console,
// metrics.jsonl and TensorBoard; checkpoints every checkpoint.every steps, at
// the end, and when a stop signal arrives (trainer/run/stop_signal.h).
//
// Run folder (output.dir): config.yaml, metrics.jsonl, tensorboard/,
// checkpoints/step-N/, workers/worker-K.log (spawned workers).
#pragma once

#include <cstdint>
#include <string>

#include "trainer/run/training_config.h"

namespace deltarl {

struct TrainingRunOptions {
  std::string resume;                           // a checkpoint or run folder; "" starts fresh
  std::string executable = "/proc/self/exe";    // the deltarl binary, for spawned workers
  bool console_progress = true;                 // one line per step on rank 0
};

struct TrainingRunResult {
  int64_t final_step = 0;          // optimizer steps completed
  bool stopped_by_signal = false;  // a stop signal ended the run early (after a checkpoint)
  std::string last_checkpoint;
};

// Collective: every rank of MPI_COMM_WORLD calls it (MPI must be initialized,
// see MpiEnvironment). Throws InputError for bad input, on every rank alike
// (a rank whose input was fine says another rank failed), and
// std::runtime_error for failures mid-run; the caller should then end all
// ranks (MpiEnvironment::abort_all), since the others may wait in a collective.
TrainingRunResult run_training(const TrainingConfig& config, const TrainingRunOptions& options);

}  // namespace deltarl
