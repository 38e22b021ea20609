// WorkerRegistry: one view of the rollout workers shared by the Generate
// client and the weight publisher. Against real worker processes (`deltarl
// rollout`) on 127.0.0.1: a worker the client found dead is not sent weights,
// and a worker that refused weights is not sent prompts.
#include "trainer/rollout/worker_registry.h"

#include <gtest/gtest.h>

#include <signal.h>

#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/preset_files.h"
#include "tests/support/worker_fixtures.h"
#include "tests/support/worker_process.h"
#include "trainer/rollout/rollout_client.h"
#include "trainer/rollout/rollout_fleet.h"

namespace deltarl {
namespace {

TEST(WorkerRegistry, LivenessOnlyGoesOneWayAndKeepsTheFirstError) {
  WorkerRegistry registry({"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, std::nullopt);
  EXPECT_EQ(registry.live_count(), 3u);
  registry.mark_dead(1, "first");
  registry.mark_dead(1, "second");
  EXPECT_EQ(registry.last_error(1), "first");
  EXPECT_EQ(registry.live_workers(), (std::vector<size_t>{0, 2}));
  registry.keep_alive({true, true, false});  // another rank's view: worker 1 cannot come back
  EXPECT_EQ(registry.alive_flags(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(registry.dead_workers_errors(), "; 127.0.0.1:2: first; 127.0.0.1:3: dropped by another rank");
  EXPECT_EQ(registry.last_error(0), "");
}

class SharedRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new std::string(testing_support::write_worker_model("deltarl_registry_"));
  }
  static void TearDownTestSuite() {
    remove_tree(*folder_);
    delete folder_;
  }
  static std::vector<PromptGroup> prompts(int count) { return testing_support::countdown_prompt_groups(count, 100); }
  static v1::SamplingParams sampling(int max_new_tokens) { return testing_support::seeded_sampling(max_new_tokens); }
  static std::string* folder_;
};
std::string* SharedRegistryTest::folder_ = nullptr;

TEST_F(SharedRegistryTest, AWorkerTheClientFoundDeadIsNotSentWeights) {
  WorkerProcess a(*folder_), b(*folder_);
  WorkerRegistry registry({a.address(), b.address()}, std::nullopt);
  RolloutClient client(registry, RolloutClientOptions());
  RolloutFleet fleet(registry);
  a.kill_now();
  std::vector<GroupCompletions> groups;
  const Status generated = client.generate(prompts(4), /*samples_per_prompt=*/2, sampling(4), 0, &groups);
  ASSERT_TRUE(generated.ok()) << generated.to_string();  // reissued on b
  ASSERT_FALSE(registry.alive(0));
  EXPECT_NE(registry.last_error(0), "");

  torch::manual_seed(5);
  CausalLM model(ModelConfig::preset("tiny"));
  PublishReport report;
  ASSERT_TRUE(fleet.publish(model, /*version=*/1, PublishOptions(), 0, 1, &report).ok());
  EXPECT_EQ(report.workers_sent, 1);  // b only: a is not tried again
  EXPECT_EQ(report.workers_took, 1);
  EXPECT_EQ(registry.live_count(), 1u);
}

TEST_F(SharedRegistryTest, AWorkerThatRefusedWeightsIsNotSentPrompts) {
  WorkerProcess a(*folder_), b(*folder_);
  torch::manual_seed(6);
  CausalLM model(ModelConfig::preset("tiny"));
  WorkerRegistry registry({a.address(), b.address()}, std::nullopt);
  // a already serves version 5: it refuses 3 as stale, yet would still generate for min version 3.
  ASSERT_TRUE(publish_weights(registry.stub(0), WeightSnapshot(model), /*version=*/5, PublishOptions()).ok());
  RolloutFleet fleet(registry);
  PublishReport report;
  ASSERT_TRUE(fleet.publish(model, /*version=*/3, PublishOptions(), 0, 1, &report).ok());
  EXPECT_EQ(report.workers_took, 1);
  ASSERT_FALSE(registry.alive(0));
  EXPECT_NE(registry.last_error(0).find("did not take weights v3"), std::string::npos) << registry.last_error(0);

  std::atomic<int> per_worker[2] = {0, 0};
  RolloutClientOptions options;
  options.on_completion = [&](size_t worker, const v1::Completion&) { ++per_worker[worker]; };
  RolloutClient client(registry, options);
  std::vector<GroupCompletions> groups;
  const Status generated = client.generate(prompts(6), /*samples_per_prompt=*/2, sampling(4), 3, &groups);
  ASSERT_TRUE(generated.ok()) << generated.to_string();
  EXPECT_EQ(per_worker[0].load(), 0);
  EXPECT_EQ(per_worker[1].load(), 12);
}

TEST_F(SharedRegistryTest, ACancelledGenerationLeavesItsWorkersInUse) {
  WorkerProcess a(*folder_);
  WorkerRegistry registry({a.address()}, std::nullopt);
  RolloutClientOptions options;
  std::atomic<bool> streaming{false};
  options.on_completion = [&](size_t, const v1::Completion&) { streaming = true; };
  RolloutClient client(registry, options);
  std::vector<GroupCompletions> groups;
  std::thread generation([&] {
    const Status status = client.generate(prompts(4), /*samples_per_prompt=*/16, sampling(1000), 0, &groups);
    EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  });
  while (!streaming) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  client.cancel();  // as on shutdown: the worker did nothing wrong
  generation.join();
  EXPECT_TRUE(registry.alive(0)) << registry.last_error(0);
}

TEST_F(SharedRegistryTest, AClientSharingARegistryTakesNoAddressesOfItsOwn) {
  WorkerRegistry registry({"127.0.0.1:1"}, std::nullopt);
  RolloutClientOptions options;
  options.workers = {"127.0.0.1:2"};
  EXPECT_THROW(RolloutClient(registry, options), std::invalid_argument);
}

}  // namespace
}  // namespace deltarl
