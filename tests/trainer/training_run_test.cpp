// The training step as a unit: TrainingRun drives real steps (statistics,
// weights, micro-batches, gradient reduction, AdamW, publish) under
// SingleProcessCommunicator, with an in-process rollout source in place of
// the gRPC workers.
#include "trainer/run/training_run.h"

#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/file_system.h"
#include "core/jsonl_reader.h"
#include "core/model/preset_checkpoint.h"
#include "tests/support/sequence_log_prob.h"
#include "trainer/comm/single_process_communicator.h"

namespace deltarl {
namespace {

using testing_support::sequence_log_prob;

constexpr int64_t kSamplesPerPrompt = 4;

// Step s draws prompts (s-1)·P .. s·P-1 (mod the dataset); in each group,
// sample k answers with k+2 tokens and only sample 0 is rewarded.
class ScriptedRollouts : public RolloutSource {
 public:
  ScriptedRollouts(const PromptDataset& prompts, int64_t prompts_per_step)
      : prompts_(prompts), prompts_per_step_(prompts_per_step) {}

  static std::vector<RolloutSample> samples_of_step(const PromptDataset& prompts, int64_t prompts_per_step,
                                                    int64_t step, uint64_t version) {
    std::vector<RolloutSample> samples;
    for (int64_t group = 0; group < prompts_per_step; ++group) {
      const PromptRecord& prompt = prompts[((step - 1) * prompts_per_step + group) % prompts.size()];
      for (int32_t k = 0; k < kSamplesPerPrompt; ++k) {
        RolloutSample sample;
        sample.group = group;
        sample.sample_index = k;
        sample.prompt_ids.assign(prompt.token_ids.begin(), prompt.token_ids.end());
        for (int32_t t = 0; t < k + 2; ++t) sample.response_ids.push_back(10 + k + t);
        sample.rollout_log_probs.assign(sample.response_ids.size(), -2.0f);
        sample.reward = k == 0 ? 1.0 : 0.0;
        sample.correct = k == 0;
        sample.policy_version = static_cast<int64_t>(version);
        samples.push_back(std::move(sample));
      }
    }
    return samples;
  }

  uint64_t first_version() const override { return 1; }
  StepBatch collect(int64_t step, uint64_t min_version) override {
    collected.push_back(step);
    StepBatch batch;
    batch.groups = prompts_per_step_;
    batch.local_samples = samples_of_step(prompts_, prompts_per_step_, step, min_version);
    batch.prompt_cursor = static_cast<uint64_t>(step * prompts_per_step_);
    batch.generation_seconds = 0.25;
    return batch;
  }
  void prefetch(int64_t, uint64_t) override {}
  std::string publish(CausalLM&, uint64_t version) override {
    published.push_back(version);
    return "";
  }
  int64_t live_workers() const override { return 1; }

  std::vector<int64_t> collected;
  std::vector<uint64_t> published;

 private:
  const PromptDataset& prompts_;
  int64_t prompts_per_step_;
};

struct Fixture {
  std::string folder = make_temporary_directory("training-run-test");
  TrainingConfig config;
  Fixture() {
    write_preset_checkpoint("tiny", "", join_path(folder, "model"), /*seed=*/7);
    std::ofstream data(join_path(folder, "train.jsonl"));
    for (int target = 10; target < 18; ++target) {
      data << "{\"numbers\":[2,3,4],\"target\":" << target << "}\n";
    }
    data.close();
    config = load_training_config_text(
        "model: {path: " + join_path(folder, "model") + "}\n"
        "data: {train: " + join_path(folder, "train.jsonl") + ", prompt_template: countdown-compact}\n"
        // The config needs workers; the scripted source stands in for them.
        "rollout: {workers: [\"127.0.0.1:1\"], samples_per_prompt: 4, max_new_tokens: 16}\n"
        "algorithm: {kl_coef: 0.05}\n"
        "train: {steps: 2, prompts_per_step: 2, micro_batch_size: 3, threads: 1}\n"
        "optim: {lr: 0.001, warmup_steps: 0}\n"
        "checkpoint: {every: 1}\n"
        "output: {dir: " + join_path(folder, "run") + ", tensorboard: false}\n",
        "training_run_test.yaml");
  }
};

TEST(TrainingRun, OneStepRaisesRewardedResponsesAndPublishesTheNextVersion) {
  Fixture fixture;
  SingleProcessCommunicator communicator;
  ScriptedRollouts* rollouts = nullptr;
  TrainingRun run(fixture.config, {}, {communicator, communicator},
                  [&](const PromptDataset& prompts, uint64_t) {
                    auto source = std::make_unique<ScriptedRollouts>(prompts, 2);
                    rollouts = source.get();
                    return source;
                  });
  ASSERT_NE(rollouts, nullptr);
  EXPECT_EQ(rollouts->published, std::vector<uint64_t>({1})) << "the starting weights go out as first_version";

  const Tokenizer tokenizer = Tokenizer::from_file(join_path(fixture.config.model.path, "tokenizer.json"));
  PromptDatasetOptions prompt_options;
  prompt_options.prompt_template = "countdown-compact";
  const PromptDataset prompts(fixture.config.data.train, tokenizer, prompt_options);
  const std::vector<RolloutSample> samples = ScriptedRollouts::samples_of_step(prompts, 2, /*step=*/1, 1);
  std::vector<double> before;
  for (const auto& sample : samples) before.push_back(sequence_log_prob(run.model(), sample));

  const StepReport report = run.run_step(1);

  EXPECT_EQ(rollouts->collected, std::vector<int64_t>({1}));
  EXPECT_EQ(rollouts->published, std::vector<uint64_t>({1, 2}));
  EXPECT_EQ(report.policy_version, 2u);
  EXPECT_EQ(report.generation_seconds, 0.25) << "the rollout phase's time is the source's";
  EXPECT_EQ(report.groups, 2);
  EXPECT_EQ(report.samples, 8);
  EXPECT_EQ(report.reward_sum, 2);
  EXPECT_EQ(report.loss_tokens, 2 * (2 + 3 + 4 + 5));
  EXPECT_GT(report.grad_norm, 0);
  EXPECT_EQ(report.skipped_updates, 0);
  EXPECT_EQ(report.updates, 1);
  for (size_t i = 0; i < samples.size(); ++i) {
    const double after = sequence_log_prob(run.model(), samples[i]);
    if (samples[i].reward > 0) {
      EXPECT_GT(after, before[i] + 1e-3) << "rewarded sample " << i << " did not become likelier";
    } else {
      EXPECT_LT(after, before[i] - 1e-4) << "unrewarded sample " << i << " did not become less likely";
    }
  }
}

TEST(TrainingRun, RunWritesEveryStepsMetricsAndCheckpoints) {
  Fixture fixture;
  SingleProcessCommunicator communicator;
  TrainingRunOptions options;
  options.console_progress = false;
  TrainingRun run(fixture.config, options, {communicator, communicator},
                  [&](const PromptDataset& prompts, uint64_t) { return std::make_unique<ScriptedRollouts>(prompts, 2); });
  const TrainingRunResult result = run.run();
  EXPECT_EQ(result.final_step, 2);
  EXPECT_FALSE(result.stopped_by_signal);
  const std::string run_folder = fixture.config.output.dir;
  EXPECT_EQ(result.last_checkpoint, join_path(run_folder, "checkpoints/step-00000002"));
  const TrainerState state = load_trainer_state(result.last_checkpoint);
  EXPECT_EQ(state.step, 2);
  EXPECT_EQ(state.sampler_cursor, 4u) << "the cursor after step 2's prompts";
  EXPECT_EQ(state.policy_version, 3u);
  std::vector<int64_t> steps;
  std::ifstream metrics(join_path(run_folder, "metrics.jsonl"));
  JsonlReader reader(metrics, "metrics.jsonl");
  while (const auto line = reader.next()) {
    steps.push_back(line->value.at("step").get<int64_t>());
    EXPECT_DOUBLE_EQ(line->value.at("reward/mean").get<double>(), 0.25);
  }
  EXPECT_EQ(steps, std::vector<int64_t>({1, 2}));
}

}  // namespace
}  // namespace deltarl
