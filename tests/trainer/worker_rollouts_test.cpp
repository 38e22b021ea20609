// WorkerRollouts, the run's RolloutSource, against real worker processes
// (`deltarl rollout`) on 127.0.0.1 under SingleProcessCommunicator: the first
// version follows the workers' newest, collect draws and generates a step, a
// prefetched round is the next step's round (and leaves the step's prompt
// cursor alone), publish takes one snapshot and agrees on dead workers, and a
// pending prefetch does not outlive the source.
#include "trainer/rollout/worker_rollouts.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/preset_files.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/support/worker_process.h"
#include "trainer/comm/single_process_communicator.h"
#include "trainer/rollout/weight_publisher.h"

namespace deltarl {
namespace {

constexpr int64_t kPromptsPerStep = 4;
constexpr int32_t kSamplesPerPrompt = 2;
constexpr uint64_t kSeed = 9;

class WorkerRolloutsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new std::string(make_temporary_directory("deltarl_worker_rollouts_"));
    torch::manual_seed(11);
    model_ = new CausalLM(ModelConfig::preset("tiny"));
    save_pretrained(*model_, *folder_);
    copy_file(countdown_tokenizer_path(), join_path(*folder_, "tokenizer.json"));
    const std::string data = join_path(*folder_, "train.jsonl");
    {
      std::ofstream lines(data);
      for (int p = 0; p < 20; ++p) lines << "{\"numbers\": [" << p << ", 2], \"target\": " << p + 2 << "}\n";
    }
    tokenizer_ = new Tokenizer(Tokenizer::from_file(countdown_tokenizer_path()));
    PromptDatasetOptions data_options;
    data_options.prompt_template = "countdown-compact";
    dataset_ = new PromptDataset(data, *tokenizer_, data_options);
  }
  static void TearDownTestSuite() {
    delete dataset_;
    delete tokenizer_;
    delete model_;
    remove_tree(*folder_);
    delete folder_;
  }

  static WorkerRolloutsOptions options_for(const std::vector<std::string>& workers, int32_t max_new_tokens = 6) {
    WorkerRolloutsOptions options;
    options.workers = workers;
    options.deadline_seconds = 120;
    options.rollouts.prompts_per_step = kPromptsPerStep;
    options.rollouts.samples_per_prompt = kSamplesPerPrompt;
    options.rollouts.sampling.set_temperature(1.0);
    options.rollouts.sampling.set_max_new_tokens(max_new_tokens);
    options.rollouts.seed = kSeed;
    return options;
  }
  // The prompts of draws [begin, end) of the run's prompt order, by position.
  static std::vector<std::vector<int32_t>> prompts_drawn(uint64_t begin, uint64_t end) {
    PromptSampler sampler(dataset_->size(), kSeed, /*shuffle=*/true);
    sampler.seek(begin);
    std::vector<std::vector<int32_t>> prompts;
    for (uint64_t index : sampler.draw(end - begin)) prompts.push_back((*dataset_)[index].token_ids);
    return prompts;
  }
  static void expect_step_of(const StepBatch& batch, uint64_t first_draw) {
    ASSERT_EQ(batch.groups, kPromptsPerStep);
    ASSERT_EQ(batch.local_samples.size(), static_cast<size_t>(kPromptsPerStep * kSamplesPerPrompt));
    const auto prompts = prompts_drawn(first_draw, first_draw + kPromptsPerStep);
    for (const auto& sample : batch.local_samples) {
      EXPECT_EQ(sample.prompt_ids, prompts.at(static_cast<size_t>(sample.group))) << "group " << sample.group;
    }
  }

  SingleProcessCommunicator host_;
  static std::string* folder_;
  static CausalLM* model_;
  static Tokenizer* tokenizer_;
  static PromptDataset* dataset_;
};
std::string* WorkerRolloutsTest::folder_ = nullptr;
CausalLM* WorkerRolloutsTest::model_ = nullptr;
Tokenizer* WorkerRolloutsTest::tokenizer_ = nullptr;
PromptDataset* WorkerRolloutsTest::dataset_ = nullptr;

TEST_F(WorkerRolloutsTest, StartsAfterTheNewestVersionPublishesOnceAndCollectsAStep) {
  WorkerProcess a(*folder_), b(*folder_);
  WorkerRegistry direct({a.address()}, std::nullopt);
  ASSERT_TRUE(publish_weights(direct.stub(0), WeightSnapshot(*model_), /*version=*/4, PublishOptions()).ok());

  auto rollouts = start_worker_rollouts(options_for({a.address(), b.address()}), *dataset_, host_);
  EXPECT_EQ(rollouts->addresses(), (std::vector<std::string>{a.address(), b.address()}));
  const uint64_t version = rollouts->first_version();
  EXPECT_EQ(version, 5u);
  EXPECT_EQ(rollouts->publish(*model_, version), "");
  EXPECT_EQ(rollouts->live_workers(), 2);
  EXPECT_EQ(rollouts->last_publish().snapshots, 1);  // for both workers
  EXPECT_EQ(rollouts->last_publish().workers_took, 2);

  const StepBatch batch = rollouts->collect(/*step=*/1, version);
  expect_step_of(batch, /*first_draw=*/0);
  EXPECT_EQ(batch.rounds, 1);
  EXPECT_EQ(batch.prompt_cursor, static_cast<uint64_t>(kPromptsPerStep));
  EXPECT_GT(batch.generation_seconds, 0.0);
  for (const auto& sample : batch.local_samples) EXPECT_EQ(sample.policy_version, static_cast<int64_t>(version));
}

TEST_F(WorkerRolloutsTest, APrefetchedRoundIsTheNextStepsRound) {
  WorkerProcess a(*folder_);
  StepBatch prefetched;
  {
    auto rollouts = start_worker_rollouts(options_for({a.address()}), *dataset_, host_);
    uint64_t version = rollouts->first_version();
    ASSERT_EQ(rollouts->publish(*model_, version), "");
    const StepBatch first = rollouts->collect(1, version);
    EXPECT_EQ(first.prompt_cursor, static_cast<uint64_t>(kPromptsPerStep));
    rollouts->prefetch(2, version);
    EXPECT_THROW(rollouts->prefetch(3, version), std::logic_error);  // one pending round at most
    EXPECT_THROW(rollouts->collect(3, version), std::logic_error);   // it is step 2's
    ASSERT_EQ(rollouts->publish(*model_, ++version), "");            // while it generates
    prefetched = rollouts->collect(2, version);
    // The step's own draws only: the prefetch drew step 2's round, collect drew nothing more.
    EXPECT_EQ(prefetched.prompt_cursor, static_cast<uint64_t>(2 * kPromptsPerStep));
    expect_step_of(prefetched, /*first_draw=*/kPromptsPerStep);
    for (const auto& sample : prefetched.local_samples) EXPECT_GE(sample.policy_version, int64_t{1});
  }
  // The same steps without a prefetch, on the same worker and weights: the same samples.
  auto rollouts = start_worker_rollouts(options_for({a.address()}), *dataset_, host_);
  const uint64_t version = rollouts->first_version();
  ASSERT_EQ(rollouts->publish(*model_, version), "");
  (void)rollouts->collect(1, version);
  const StepBatch generated = rollouts->collect(2, version);
  ASSERT_EQ(generated.local_samples.size(), prefetched.local_samples.size());
  for (size_t s = 0; s < generated.local_samples.size(); ++s) {
    EXPECT_EQ(generated.local_samples[s].group, prefetched.local_samples[s].group);
    EXPECT_EQ(generated.local_samples[s].sample_index, prefetched.local_samples[s].sample_index);
    EXPECT_EQ(generated.local_samples[s].response_ids, prefetched.local_samples[s].response_ids);
  }
}

TEST_F(WorkerRolloutsTest, PublishSkipsAndAgreesOnTheWorkersTheClientFoundDead) {
  WorkerProcess a(*folder_), b(*folder_);
  auto rollouts = start_worker_rollouts(options_for({a.address(), b.address()}), *dataset_, host_);
  uint64_t version = rollouts->first_version();
  ASSERT_EQ(rollouts->publish(*model_, version), "");
  a.kill_now();
  expect_step_of(rollouts->collect(1, version), /*first_draw=*/0);  // a's groups reissued on b
  EXPECT_FALSE(rollouts->workers().alive(0));
  ASSERT_EQ(rollouts->publish(*model_, ++version), "");
  EXPECT_EQ(rollouts->last_publish().workers_sent, 1);
  EXPECT_EQ(rollouts->last_publish().workers_took, 1);
  EXPECT_EQ(rollouts->live_workers(), 1);
}

TEST_F(WorkerRolloutsTest, NoWorkerLeftFailsTheStepAndThePublish) {
  WorkerProcess a(*folder_);
  auto rollouts = start_worker_rollouts(options_for({a.address()}), *dataset_, host_);
  uint64_t version = rollouts->first_version();
  ASSERT_EQ(rollouts->publish(*model_, version), "");
  a.kill_now();
  EXPECT_THROW(rollouts->collect(1, version), RolloutsFailed);
  const std::string error = rollouts->publish(*model_, ++version);
  EXPECT_NE(error.find("no rollout worker took weights v" + std::to_string(version)), std::string::npos) << error;
  EXPECT_EQ(rollouts->live_workers(), 0);
}

TEST_F(WorkerRolloutsTest, APendingPrefetchIsCancelledWhenTheSourceGoes) {
  WorkerProcess a(*folder_);
  std::chrono::steady_clock::time_point destroyed;
  {
    // Many long responses: generating them all takes seconds, cancelling them milliseconds.
    WorkerRolloutsOptions options = options_for({a.address()}, /*max_new_tokens=*/1000);
    options.rollouts.samples_per_prompt = 16;
    auto rollouts = start_worker_rollouts(options, *dataset_, host_);
    ASSERT_EQ(rollouts->publish(*model_, rollouts->first_version()), "");
    rollouts->prefetch(1, rollouts->first_version());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the streams are running
    destroyed = std::chrono::steady_clock::now();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - destroyed).count(), 2.0);
  // The worker is left serving.
  auto rollouts = start_worker_rollouts(options_for({a.address()}), *dataset_, host_);
  ASSERT_EQ(rollouts->publish(*model_, rollouts->first_version()), "");
  expect_step_of(rollouts->collect(1, rollouts->first_version()), /*first_draw=*/0);
}

TEST_F(WorkerRolloutsTest, SpawnsLocalWorkersAfterTheListedOnes) {
  WorkerProcess a(*folder_);
  WorkerRolloutsOptions options = options_for({a.address()});
  options.spawn_local = 1;
  options.local_workers.executable = DELTARL_BINARY;
  options.local_workers.model_folder = *folder_;
  options.local_workers.threads = 1;
  options.local_workers.max_batch = 4;
  options.local_workers.log_folder = make_temporary_directory("deltarl_worker_logs_");
  options.sampler_cursor = 3;  // a resumed run's prompts continue
  {
    auto rollouts = start_worker_rollouts(options, *dataset_, host_);
    ASSERT_EQ(rollouts->addresses().size(), 2u);
    EXPECT_EQ(rollouts->addresses()[0], a.address());
    EXPECT_NE(rollouts->addresses()[1], a.address());
    ASSERT_EQ(rollouts->publish(*model_, rollouts->first_version()), "");
    EXPECT_EQ(rollouts->last_publish().workers_took, 2);
    const StepBatch batch = rollouts->collect(1, rollouts->first_version());
    expect_step_of(batch, /*first_draw=*/3);
    EXPECT_EQ(batch.prompt_cursor, 3u + kPromptsPerStep);
  }
  remove_tree(options.local_workers.log_folder);
}

}  // namespace
}  // namespace deltarl
