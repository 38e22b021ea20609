// `deltarl update`: one step's PPO updates from recorded rollouts
// (rollout_records.h) on learner ranks, the production step of `deltarl train`
// without generation: the same sample exchange, ONE statistics all-reduce and
// run_step_updates (trainer/algorithm/step_updates.h), at the learning rate and
// with the mini-batch shuffle of the step it is told. For debugging a batch and
// for comparing with other trainers on the same data; replaying a step that
// `deltarl train` recorded at the same number of ranks gives its weights bit
// for bit (tests/cli/update_replays_train.sh).
//
//   RecordedUpdateResult result = run_recorded_update(config, {"step-1.jsonl", "", "out", 1}, communicators);
#pragma once

#include <cstdint>
#include <string>

#include "trainer/comm/learner_communicators.h"
#include "trainer/run/step_report.h"
#include "trainer/run/training_config.h"

namespace deltarl {

struct RecordedUpdateOptions {
  std::string rollouts;  // the step's samples, JSONL (docs/training.md, "Recorded rollouts")
  // A checkpoint (or a folder of them: the newest) whose weights and AdamW
  // state the update starts from; "": config.model.path and a fresh AdamW.
  std::string resume;
  std::string out;       // the checkpoint folder to write; must not exist yet
  int64_t step = 1;      // picks the learning rate and the mini-batch shuffle
};

struct RecordedUpdateResult {
  StepReport report;
  MetricsRow metrics;      // the report's metrics that an update without generation has
  std::string checkpoint;  // options.out, on every rank
};

// Collective over communicators.host and .device: every rank reads the file
// and takes samples i ≡ rank (mod world) into the exchange, so the samples
// each rank trains are those `deltarl train` gave it at this world size.
// config.model.path is the start (without resume) and the KL reference
// (algorithm.kl_coef > 0). Rank 0 writes `out` in checkpoint form
// (training_checkpoint.h): `deltarl compare-checkpoints` and `--resume` read
// it. Bad input (the file, --step beyond train.steps, an existing `out`, a
// token id beyond the model's vocabulary) is an InputError on every rank
// before anything is written; a failure past set-up is std::runtime_error,
// after which the caller should end all ranks.
RecordedUpdateResult run_recorded_update(const TrainingConfig& config, const RecordedUpdateOptions& options,
                                         LearnerCommunicators communicators);

}  // namespace deltarl
