#include "trainer/run/training_run.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

#include <torch/torch.h>

#include "core/file_system.h"
#include "core/input_error.h"
#include "core/log.h"
#include "trainer/algorithm/step_updates.h"
#include "trainer/comm/agreement.h"
#include "trainer/comm/sample_exchange.h"
#include "trainer/comm/string_broadcast.h"
#include "trainer/run/rollout_records.h"
#include "trainer/run/step_totals.h"
#include "trainer/run/stop_signal.h"

namespace deltarl {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// How long a rank waits for a stop signal after the workers failed, before
// calling the failure a fault: a scheduler signals every process of the job,
// and the workers may drain a moment before the learners see their signal.
constexpr double kStopGraceSeconds = 10;

}  // namespace

TrainingRun::TrainingRun(const TrainingConfig& config, TrainingRunOptions options,
                         LearnerCommunicators communicators, RolloutSourceMaker make_rollout_source)
    : config_(config),
      options_(std::move(options)),
      host_(communicators.host),
      device_communicator_(communicators.device),
      rank_(communicators.host.rank()),
      world_(communicators.host.world_size()),
      local_size_(communicators.local_size),
      run_folder_(config.output.dir),
      checkpoints_folder_(join_path(config.output.dir, "checkpoints")),
      schedule_{config.optim.lr, config.optim.warmup_steps, config.train.steps, config.optim.min_lr_ratio} {
  if (world_ > 1) set_log_rank(rank_);
  StopSignal::install();
  read_checkpoint_to_resume();
  load_model_and_data();
  // Only now, with the config, model and data known good, does anything get written.
  prepare_run_folder();
  rollouts_ = make_rollout_source ? make_rollout_source(*prompts_, resumed_.sampler_cursor)
                                  : start_rollout_workers(*prompts_, resumed_.sampler_cursor);
  version_ = rollouts_->first_version();
  if (const std::string error = rollouts_->publish(model_, version_); !error.empty()) {
    throw std::runtime_error("publishing the starting weights: " + error);
  }
  updater_ = std::make_unique<PolicyUpdater>(model_, reference_ ? &reference_ : nullptr, *optimizer_,
                                             policy_update_options(config_));
  open_metrics();
  watchdog_ = std::make_unique<StepWatchdog>(config_.step_timeout_seconds(), rank_,
                                             options_.on_step_timeout ? options_.on_step_timeout
                                                                      : [](const std::string&) {});
  prompt_cursor_ = resumed_.sampler_cursor;
  last_checkpoint_step_ = resumed_.step;
  result_.final_step = resumed_.step;
  result_.last_checkpoint = checkpoint_folder_;
  if (rank_ == 0) {
    log_info("training " + std::to_string(config_.train.steps) + " steps on " + std::to_string(world_) +
             " rank(s), " + device_.str() + ", " + std::to_string(rollouts_->live_workers()) +
             " rollout worker(s), loss " + config_.algorithm.aggregation.describe() +
             (checkpoint_folder_.empty() ? std::string() : ", resumed from " + checkpoint_folder_));
  }
}

TrainingRun::~TrainingRun() = default;

StepReport TrainingRun::run_step(int64_t step) {
  StepReport report;
  report.step = step;
  report.total_steps = config_.train.steps;
  report.learning_rate = schedule_.at(step);

  // ---- 1–2. Draw the step's prompts and generate this rank's groups on the
  // workers (round 0 may have been generated during the last step).
  // Collective: the ranks agree on failures and on which groups to keep.
  watchdog_->enter(step, "rollouts");
  StepBatch batch = rollouts_->collect(step, version_);
  report.generation_seconds = batch.generation_seconds;
  if (config_.rollout.one_step_off && step < config_.train.steps && !StopSignal::requested()) {
    // Step k+1's first round runs on the workers while this step trains; its
    // samples come from this version or the next (staleness ≤ 1, logged).
    rollouts_->prefetch(step + 1, version_);
  }

  // ---- 3. Balance the samples across ranks by tokens: two all-gathers.
  watchdog_->enter(step, "exchange");
  const auto training_started = Clock::now();
  ExchangedSamples samples = exchange_samples(host_, batch.local_samples);
  if (config_.output.save_rollouts) {  // rank 0 writes; a failure ends every rank (one all-reduce)
    agree_or_throw(host_, "saving the step's rollouts", [&] {
      if (rank_ == 0) save_step_rollouts(run_folder_, step, samples.all);
    });
  }

  // ---- 4. The group statistics: ONE all-reduce, after which every rank holds
  // the group-global sums Σ L^-α (Note [Group-global weights]); they serve
  // every update of the step (Note [Mini-batch weights]).
  watchdog_->enter(step, "statistics");
  auto started = Clock::now();
  StepStatistics statistics =
      StepStatistics::of_samples(samples.mine, batch.groups, config_.algorithm.aggregation.alpha);
  statistics.all_reduce(device_communicator_);
  report.statistics_allreduce_seconds = seconds_since(started);

  // ---- 5–9. The PPO updates (trainer/algorithm/step_updates.h): π_old when
  // the step makes several updates; then for each epoch and mini-batch of
  // whole groups, the mini-batch's ΔL (or other) weights, forward/backward per
  // micro-batch, the gradient all-reduce (SUM: the weights are already
  // global), clip to the global norm and AdamW, all at this step's one
  // learning rate.
  StepUpdatesObserver watched;
  watched.phase = [&](const char* phase) { watchdog_->enter(step, phase); };
  const StepUpdatesResult updates = run_step_updates(*updater_, device_communicator_, samples.mine, statistics,
                                                     step, report.learning_rate, watched);
  const PolicyUpdateResult& learner = updates.totals;
  report.old_log_prob_seconds = updates.old_log_prob_seconds;
  report.gradient_allreduce_seconds = updates.gradient_allreduce_seconds;
  report.training_seconds = seconds_since(training_started);

  // The step's diagnostics: one all-gather, which also carries each rank's
  // stop-signal flag (a stop makes this the last step).
  watchdog_->enter(step, "diagnostics");
  gather_learner_totals(host_, learner, StopSignal::requested(), &report);
  report.stop_requested = report.stop_requested && step < config_.train.steps;

  // ---- 10. Publish version + 1 to every worker before the next rollout; not
  // when stopping: a resumed run publishes its weights first anyway.
  watchdog_->enter(step, "publish");
  started = Clock::now();
  ++version_;
  if (!report.stop_requested) {
    if (const std::string error = rollouts_->publish(model_, version_); !error.empty()) {
      if (!stop_agreed(kStopGraceSeconds)) throw std::runtime_error("publishing weights failed: " + error);
      if (rank_ == 0) log_warning("publishing weights ended by the stop: " + error);
      report.stop_requested = true;
    }
  }
  report.weight_sync_seconds = seconds_since(started);

  prompt_cursor_ = batch.prompt_cursor;
  report.policy_version = version_;
  report.groups = batch.groups;
  report.filtered_groups = batch.filtered_groups;
  report.rounds = batch.rounds;
  report.unfiltered_reward_mean = batch.unfiltered_reward_mean;
  report.unfiltered_accuracy = batch.unfiltered_accuracy;
  report.live_workers = rollouts_->live_workers();
  add_sample_totals(samples.all, version_ - 1, &report);
  result_.final_step = step;
  return report;
}

TrainingRunResult TrainingRun::run() {
  if (eval_prompts_ && resumed_.step == 0) record_evaluation(0, evaluate());  // the starting point, as step 0
  try {
    for (int64_t step = resumed_.step + 1; step <= config_.train.steps; ++step) {
      // A signal that came after the last step's stop check (while it published,
      // evaluated or checkpointed) stops here rather than a whole step later.
      watchdog_->enter(step, "stop check");
      if (stop_agreed(/*grace_seconds=*/0)) {
        stop_after(step - 1);
        break;
      }
      const auto step_started = Clock::now();
      StepReport report;
      try {
        report = run_step(step);
      } catch (const RolloutsFailed& error) {  // thrown on every rank together
        if (!stop_agreed(kStopGraceSeconds)) throw;
        if (rank_ == 0) log_warning(std::string("rollouts ended by the stop: ") + error.what());
        stop_after(step - 1);
        break;
      }
      // Not when stopping: the checkpoint must beat the scheduler's kill.
      if (!report.stop_requested && evaluation_due(step)) {
        watchdog_->enter(step, "evaluation");
        report.evaluation = evaluate();
        record_evaluation(step, report.evaluation);
      }
      report.step_seconds = seconds_since(step_started);
      record(report);
      if (checkpoint_due(step) || report.stop_requested) {
        watchdog_->enter(step, "checkpoint");
        write_checkpoint(step);
      }
      if (report.stop_requested) {
        stop_after(step);  // its checkpoint is written above
        break;
      }
    }
  } catch (const InputError& error) {
    // Past set-up, bad input (a non-finite reward, say) is seen by one rank
    // only: it is a failure that must end every rank, not an agreed input error.
    throw std::runtime_error(error.what());
  }
  watchdog_->idle();
  return result_;
}

bool TrainingRun::evaluation_due(int64_t step) const {
  return eval_prompts_ && (step % config_.eval.every == 0 || step == config_.train.steps);
}

bool TrainingRun::checkpoint_due(int64_t step) const {
  return (config_.checkpoint.every > 0 && step % config_.checkpoint.every == 0) || step == config_.train.steps;
}

// Each rank decodes its shard of the held-out prompts; one all-gather adds them up.
MetricsRow TrainingRun::evaluate() {
  if (!eval_prompts_) return {};
  const EvaluationTotals mine =
      evaluate_task_totals(model_, *tokenizer_, *eval_prompts_, config_.eval.data, eval_options_);
  const torch::Tensor all = host_.all_gather(torch::tensor(
      {mine.prompts, mine.samples, mine.correct, mine.prompts_solved, mine.reward, mine.length, mine.truncated},
      torch::kFloat64));
  const torch::Tensor sums = all.sum(0);
  EvaluationTotals totals;
  totals.prompts = sums[0].item<double>();
  totals.samples = sums[1].item<double>();
  totals.correct = sums[2].item<double>();
  totals.prompts_solved = sums[3].item<double>();
  totals.reward = sums[4].item<double>();
  totals.length = sums[5].item<double>();
  totals.truncated = sums[6].item<double>();
  const EvaluationResult result = finish_evaluation(totals);
  return {{"eval/accuracy", result.accuracy},
          {"eval/pass_at_n", result.pass_at_n},
          {"eval/reward", result.mean_reward},
          {"eval/response_length", result.mean_length}};
}

void TrainingRun::record_evaluation(int64_t step, const MetricsRow& row) {
  if (rank_ != 0 || row.empty()) return;
  if (step == 0) {  // later evaluations go out with their step's row
    metrics_->append(0, row);
    if (board_) {
      for (const auto& [name, value] : row) board_->add_scalar(name, value, 0);
      board_->flush();
    }
  }
  if (!options_.console_progress) return;
  char line[160];
  std::snprintf(line, sizeof(line), "eval at step %lld | held-out accuracy %.3f | pass@%lld %.3f",
                static_cast<long long>(step), row[0].second, static_cast<long long>(config_.eval.samples),
                row[1].second);
  std::cout << line << std::endl;
}

void TrainingRun::record(const StepReport& report) {
  step_seconds_sum_ += report.step_seconds;
  ++steps_timed_;
  if (rank_ != 0) return;
  const MetricsRow row = step_metrics(report);
  metrics_->append(report.step, row);
  if (board_) {
    for (const auto& [name, value] : row) board_->add_scalar(name, value, report.step);
    board_->flush();
  }
  if (options_.console_progress) {
    const double eta =
        step_seconds_sum_ / static_cast<double>(steps_timed_) * static_cast<double>(config_.train.steps - report.step);
    std::cout << step_console_line(report, eta) << std::endl;
  }
}

// The state after `done_step`, on every rank together (rank 0 writes it).
void TrainingRun::write_checkpoint(int64_t done_step) {
  // Sharded (train.zero_stage ≥ 1): the shards gathered into whole tensors by
  // name first, on every rank (collective), so the checkpoint does not depend
  // on the world size.
  const std::vector<std::pair<std::string, torch::Tensor>> optimizer_state =
      optimizer_->gather_state(device_communicator_);
  agree_or_throw(host_, "writing the checkpoint", [&] {
    if (rank_ != 0) return;
    TrainerState state;
    state.step = done_step;
    state.sampler_cursor = prompt_cursor_;
    state.policy_version = version_;
    state.seed = config_.train.seed;
    state.optimizer_steps = optimizer_->steps_taken();
    state.config_yaml = training_config_to_yaml(config_);
    result_.last_checkpoint = save_training_checkpoint(checkpoints_folder_, model_, dtype_, tokenizer_json_,
                                                       optimizer_state, state, config_.checkpoint.keep_last);
    log_info("checkpoint " + result_.last_checkpoint);
  });
  result_.last_checkpoint = broadcast_string(host_, result_.last_checkpoint);
  last_checkpoint_step_ = done_step;
}

// Whether any rank has a stop signal: a collective, for deciding together that
// a worker failure is the job stopping (a scheduler signals workers and
// learners at once) rather than a fault. After a failure each rank first gives
// the signal `grace_seconds` to arrive: the workers may have seen it (and
// drained) a moment before the learners.
bool TrainingRun::stop_agreed(double grace_seconds) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000));
  while (!StopSignal::requested() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  torch::Tensor flag = torch::tensor({StopSignal::requested() ? 1.0 : 0.0}, torch::kFloat64);
  host_.all_reduce_sum(flag);
  return flag.item<double>() > 0;
}

// Ends the run after `done_step` on a stop signal: its checkpoint unless it has one.
void TrainingRun::stop_after(int64_t done_step) {
  if (done_step > last_checkpoint_step_) write_checkpoint(done_step);
  result_.stopped_by_signal = true;
  if (rank_ == 0) {
    log_info("stop signal received: stopped after step " + std::to_string(done_step) +
             (result_.last_checkpoint.empty() ? std::string("; no step finished, nothing to resume")
                                              : "; resume with --resume " + run_folder_));
  }
}

}  // namespace deltarl
