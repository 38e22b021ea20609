#include "trainer/run/recorded_update.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>

#include "core/file_system.h"
#include "core/input_error.h"
#include "core/log.h"
#include "trainer/algorithm/learning_rate_schedule.h"
#include "trainer/algorithm/step_statistics.h"
#include "trainer/algorithm/step_updates.h"
#include "trainer/comm/agreement.h"
#include "trainer/comm/sample_exchange.h"
#include "trainer/run/learner_model.h"
#include "trainer/run/rollout_records.h"
#include "trainer/run/step_totals.h"
#include "trainer/run/training_checkpoint.h"

namespace deltarl {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Token ids the model has no embedding for would fail deep in LibTorch; name them here.
void check_token_ids(const RolloutRecords& records, int64_t vocab_size, const std::string& path) {
  for (const auto& sample : records.samples) {
    for (const auto* ids : {&sample.prompt_ids, &sample.response_ids}) {
      for (int32_t id : *ids) {
        if (id >= vocab_size) {
          throw InputError(path + ": group " + std::to_string(sample.group) + ", sample " +
                           std::to_string(sample.sample_index) + " has token id " + std::to_string(id) +
                           ", beyond the model's vocabulary of " + std::to_string(vocab_size) +
                           " (rollouts of another model?)");
        }
      }
    }
  }
}

// The metrics of step_metrics() that a step without generation has.
MetricsRow update_metrics(const StepReport& report) {
  static const std::set<std::string> kGenerationOnly = {
      "reward/unfiltered_mean", "reward/unfiltered_accuracy", "rollout/groups_filtered", "rollout/rounds",
      "rollout/live_workers", "perf/generation_tokens_per_second", "perf/tokens_per_second", "time/generation",
      "time/weight_sync", "time/step"};
  MetricsRow row;
  for (auto& entry : step_metrics(report)) {
    if (kGenerationOnly.count(entry.first) == 0) row.push_back(std::move(entry));
  }
  return row;
}

// Writes the checkpoint into `out` itself: save_training_checkpoint writes
// step-N complete under a staging folder, which is then renamed to `out`.
void write_out_checkpoint(const std::string& out, LearnerModel& learner,
                          const std::vector<std::pair<std::string, torch::Tensor>>& optimizer_state,
                          const TrainerState& state) {
  const std::string staging = out + ".partial";
  remove_tree(staging);
  const std::string written =
      save_training_checkpoint(staging, learner.model, learner.dtype, learner.tokenizer_json, optimizer_state,
                               state, /*keep_last=*/1);
  if (std::rename(written.c_str(), out.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + written + " to " + out + ": " + std::strerror(errno));
  }
  remove_tree(staging);
}

}  // namespace

RecordedUpdateResult run_recorded_update(const TrainingConfig& config, const RecordedUpdateOptions& options,
                                         LearnerCommunicators communicators) {
  Communicator& host = communicators.host;
  Communicator& device = communicators.device;
  const int rank = host.rank(), world = host.world_size();
  const LearningRateSchedule schedule{config.optim.lr, config.optim.warmup_steps, config.train.steps,
                                      config.optim.min_lr_ratio};

  RolloutRecords records;
  std::string checkpoint;
  TrainerState resumed;
  agree_or_throw(host, "reading the rollouts", [&] {
    if (options.step < 1 || options.step > config.train.steps) {
      throw InputError("--step " + std::to_string(options.step) + " must be in [1, train.steps = " +
                       std::to_string(config.train.steps) + "] (" + config.source +
                       "): the step's learning rate follows the schedule over train.steps; raise it with "
                       "--set train.steps=N");
    }
    if (options.out.empty()) throw InputError("--out is required: the checkpoint folder to write");
    if (rank == 0 && path_exists(options.out)) {
      throw InputError("--out " + options.out + " already exists; deltarl update writes a new folder only");
    }
    if (!options.resume.empty()) {
      checkpoint = find_checkpoint(options.resume);
      resumed = load_trainer_state(checkpoint);
    }
    records = read_rollout_records(options.rollouts);
  });

  LearnerModel learner;
  agree_or_throw(host, "loading the model", [&] {
    const LearnerModelSource source{checkpoint.empty() ? config.model.path : checkpoint, checkpoint,
                                    resumed.optimizer_steps};
    learner = load_learner_model(config, source, device, communicators.local_size);
    check_token_ids(records, learner.model->config().vocab_size, options.rollouts);
  });
  if (rank == 0) {
    log_info("update: step " + std::to_string(options.step) + " from " + options.rollouts + " (" +
             std::to_string(records.samples.size()) + " samples, " + std::to_string(records.num_groups) +
             " groups) on " + std::to_string(world) + " rank(s), starting from " +
             (checkpoint.empty() ? config.model.path + " with a fresh optimizer" : checkpoint));
  }

  RecordedUpdateResult result;
  StepReport& report = result.report;
  report.step = options.step;
  report.total_steps = config.train.steps;
  report.learning_rate = schedule.at(options.step);
  report.groups = records.num_groups;
  try {
    // The step as TrainingRun::run_step trains it, from the exchange on.
    const auto training_started = Clock::now();
    std::vector<RolloutSample> local;
    for (size_t i = static_cast<size_t>(rank); i < records.samples.size(); i += static_cast<size_t>(world)) {
      local.push_back(records.samples[i]);
    }
    ExchangedSamples samples = exchange_samples(host, local);

    auto started = Clock::now();
    StepStatistics statistics =
        StepStatistics::of_samples(samples.mine, records.num_groups, config.algorithm.aggregation.alpha);
    statistics.all_reduce(device);
    report.statistics_allreduce_seconds = seconds_since(started);

    PolicyUpdater updater(learner.model, learner.reference_or_null(), *learner.optimizer,
                          policy_update_options(config));
    const StepUpdatesResult updates =
        run_step_updates(updater, device, samples.mine, statistics, options.step, report.learning_rate);
    report.old_log_prob_seconds = updates.old_log_prob_seconds;
    report.gradient_allreduce_seconds = updates.gradient_allreduce_seconds;
    report.training_seconds = seconds_since(training_started);
    gather_learner_totals(host, updates.totals, /*stop_requested=*/false, &report);

    // The version trained is the newest that generated a sample; the update makes the next.
    int64_t version_trained = 0;
    for (const auto& sample : samples.all) version_trained = std::max(version_trained, sample.policy_version);
    report.policy_version = static_cast<uint64_t>(version_trained) + 1;
    add_sample_totals(samples.all, static_cast<uint64_t>(version_trained), &report);
  } catch (const InputError& error) {
    // Past set-up, bad input is seen by one rank only: a failure that must end every rank.
    throw std::runtime_error(error.what());
  }

  // Whole tensors by name from every rank's shard (collective when sharded).
  const std::vector<std::pair<std::string, torch::Tensor>> optimizer_state = learner.optimizer->gather_state(device);
  agree_or_throw(host, "writing --out", [&] {
    if (rank != 0) return;
    TrainerState state;
    state.step = options.step;
    state.sampler_cursor = resumed.sampler_cursor;
    state.policy_version = report.policy_version;
    state.seed = config.train.seed;
    state.optimizer_steps = learner.optimizer->steps_taken();
    state.config_yaml = training_config_to_yaml(config);
    write_out_checkpoint(options.out, learner, optimizer_state, state);
  });
  result.metrics = update_metrics(report);
  result.checkpoint = options.out;
  return result;
}

}  // namespace deltarl
