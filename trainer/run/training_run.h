// TrainingRun: `deltarl train` on one learner rank, from set-up to the last
// step. docs/training.md describes the run; docs/architecture.md where each
// piece lives.
//
//   TrainingRun run(config, options, {host, device, local_rank, local_size});  // set-up: collective
//   TrainingRunResult result = run.run();                                       // every step, collective
//
// One step (run_step) reads top to bottom, every collective at its call site
// or one call below: draw prompts → rollouts → balance samples across ranks by
// tokens → ONE all-reduce of the group statistics → ΔL (or other) weights and
// advantages → forward/backward per micro-batch → gradient all-reduce → clip →
// AdamW → publish the new weights to every worker. Held-out evaluation, the
// metrics row and console line (built from the StepReport) and checkpoints
// come after the step.
//
// Run folder (output.dir): config.yaml, metrics.jsonl, tensorboard/,
// checkpoints/step-N/, workers/worker-K.log (spawned workers).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <torch/types.h>

#include "core/model/causal_lm.h"
#include "core/tokenizer/tokenizer.h"
#include "trainer/algorithm/adamw.h"
#include "trainer/algorithm/learning_rate_schedule.h"
#include "trainer/algorithm/policy_update.h"
#include "trainer/comm/learner_communicators.h"
#include "trainer/evaluation/task_evaluation.h"
#include "trainer/prompts/prompt_dataset.h"
#include "trainer/rollout/rollout_source.h"
#include "trainer/run/metrics_log.h"
#include "trainer/run/step_report.h"
#include "trainer/run/step_watchdog.h"
#include "trainer/run/tensorboard_writer.h"
#include "trainer/run/training_checkpoint.h"
#include "trainer/run/training_config.h"

namespace deltarl {

struct TrainingRunOptions {
  std::string resume;                           // a checkpoint or run folder; "" starts fresh
  std::string executable = "/proc/self/exe";    // the deltarl binary, for spawned workers
  bool console_progress = true;                 // one line per step on rank 0
  // What the step watchdog does when a step outlasts train.step_timeout_seconds,
  // on the watchdog's thread, after it logged which rank, step and phase: the
  // train command ends the job (MpiEnvironment::abort_all(kStepTimeoutExitCode)).
  // Null: the message is only logged.
  std::function<void(const std::string& message)> on_step_timeout;
};

struct TrainingRunResult {
  int64_t final_step = 0;          // optimizer steps completed
  bool stopped_by_signal = false;  // a stop signal ended the run early (after a checkpoint)
  std::string last_checkpoint;
};

// Makes the run's rollout source from the training prompts, positioned at
// `prompt_cursor` (a resumed run's). Null: the rollout workers of the config
// (WorkerRollouts). Tests pass an in-process source.
using RolloutSourceMaker =
    std::function<std::unique_ptr<RolloutSource>(const PromptDataset& prompts, uint64_t prompt_cursor)>;

class TrainingRun {
 public:
  // Set-up, collective over communicators.host: reads the checkpoint to resume
  // (options.resume), loads the model, reference, tokenizer, data and
  // optimizer, prepares the run folder, starts the rollout source and
  // publishes the starting weights. Throws InputError for bad input, on every
  // rank alike (a rank whose input was fine names the rank that failed), and
  // std::runtime_error for other failures; the caller should then end all ranks
  // (MpiEnvironment::abort_all), since the others may wait in a collective.
  TrainingRun(const TrainingConfig& config, TrainingRunOptions options, LearnerCommunicators communicators,
              RolloutSourceMaker make_rollout_source = nullptr);
  ~TrainingRun();
  TrainingRun(const TrainingRun&) = delete;
  TrainingRun& operator=(const TrainingRun&) = delete;

  // Every remaining step, each followed by evaluation when due, its metrics and
  // its checkpoint when due; stops early, after a checkpoint, on a stop signal.
  // Collective. Past set-up any failure is std::runtime_error.
  TrainingRunResult run();

  // One optimizer step (the next one: steps run in order). Collective.
  // Throws RolloutsFailed on every rank together when generation failed.
  StepReport run_step(int64_t step);

  CausalLM& model() { return model_; }
  uint64_t policy_version() const { return version_; }

 private:
  // Set-up, in order.
  void read_checkpoint_to_resume();
  void load_model_and_data();
  void prepare_run_folder();
  std::unique_ptr<RolloutSource> start_rollout_workers(const PromptDataset& prompts, uint64_t prompt_cursor);
  void open_metrics();

  // Around the steps.
  MetricsRow evaluate();                     // collective
  void record(const StepReport& report);     // rank 0: metrics.jsonl, TensorBoard, console
  void record_evaluation(int64_t step, const MetricsRow& row);
  void write_checkpoint(int64_t done_step);  // collective
  bool stop_agreed(double grace_seconds);    // collective
  void stop_after(int64_t done_step);        // collective
  bool evaluation_due(int64_t step) const;
  bool checkpoint_due(int64_t step) const;

  const TrainingConfig config_;
  const TrainingRunOptions options_;
  Communicator& host_;
  Communicator& device_communicator_;
  const int rank_, world_, local_size_;
  const std::string run_folder_, checkpoints_folder_;

  std::string checkpoint_folder_;  // the one resumed from, or ""
  TrainerState resumed_;
  std::string model_folder_;       // the weights the run starts from
  torch::ScalarType dtype_ = torch::kFloat32;
  torch::Device device_ = torch::kCPU;
  CausalLM model_{nullptr}, reference_{nullptr};
  std::unique_ptr<Tokenizer> tokenizer_;
  std::string tokenizer_json_;     // written into every checkpoint
  std::unique_ptr<PromptDataset> prompts_, eval_prompts_;
  EvaluationOptions eval_options_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<PolicyUpdater> updater_;
  LearningRateSchedule schedule_;
  std::unique_ptr<RolloutSource> rollouts_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<TensorBoardWriter> board_;
  std::unique_ptr<StepWatchdog> watchdog_;  // watches each step from its stop check to its checkpoint

  uint64_t version_ = 0;                // the policy version the workers serve
  uint64_t prompt_cursor_ = 0;          // after the last finished step
  int64_t last_checkpoint_step_ = 0;
  TrainingRunResult result_;
  double step_seconds_sum_ = 0;
  int64_t steps_timed_ = 0;
};

}  // namespace deltarl
