// RolloutClient against real worker processes (`deltarl rollout`) on
// 127.0.0.1: every group exactly once, also when a worker is killed mid-batch.
#include "trainer/rollout/rollout_client.h"

#include <gtest/gtest.h>

#include <signal.h>

#include <torch/torch.h>

#include <atomic>
#include <cstdio>
#include <set>

#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/preset_files.h"
#include "tests/support/worker_fixtures.h"
#include "tests/support/worker_process.h"

namespace deltarl {
namespace {

class RolloutClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new std::string(testing_support::write_worker_model("deltarl_client_"));
  }
  static void TearDownTestSuite() {
    remove_tree(*folder_);
    delete folder_;
  }
  static std::vector<PromptGroup> prompts(int count) { return testing_support::countdown_prompt_groups(count, 1000); }
  static void expect_exactly_once(const std::vector<PromptGroup>& sent, const std::vector<GroupCompletions>& got,
                                  int samples) {
    ASSERT_EQ(got.size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
      EXPECT_EQ(got[i].group_id, sent[i].group_id);
      ASSERT_EQ(static_cast<int>(got[i].samples.size()), samples);
      for (int k = 0; k < samples; ++k) {
        EXPECT_EQ(got[i].samples[static_cast<size_t>(k)].sample_index(), k);
        EXPECT_EQ(got[i].samples[static_cast<size_t>(k)].group_id(), sent[i].group_id);
      }
    }
  }
  static v1::SamplingParams sampling(int max_new_tokens) { return testing_support::seeded_sampling(max_new_tokens); }
  static std::string* folder_;
};
std::string* RolloutClientTest::folder_ = nullptr;

TEST_F(RolloutClientTest, FansOutOverWorkersAndReturnsEveryGroupOnce) {
  WorkerProcess a(*folder_), b(*folder_);
  RolloutClientOptions options;
  options.workers = {a.address(), b.address()};
  std::atomic<int> per_worker[2] = {0, 0};
  options.on_completion = [&](size_t worker, const v1::Completion&) { ++per_worker[worker]; };
  RolloutClient client(options);
  const auto sent = prompts(6);
  std::vector<GroupCompletions> got;
  const Status status = client.generate(sent, 3, sampling(8), 0, &got);
  ASSERT_TRUE(status.ok()) << status.to_string();
  expect_exactly_once(sent, got, 3);
  EXPECT_GT(per_worker[0].load(), 0);
  EXPECT_GT(per_worker[1].load(), 0);
}

TEST_F(RolloutClientTest, AWorkerKilledMidBatchLosesAndDuplicatesNothing) {
  WorkerProcess a(*folder_), b(*folder_);
  RolloutClientOptions options;
  options.workers = {a.address(), b.address()};
  std::atomic<bool> killed{false};
  std::atomic<int> from_killed_worker{0};
  options.on_completion = [&](size_t worker, const v1::Completion&) {
    if (worker == 0) {
      ++from_killed_worker;
      if (!killed.exchange(true)) ::kill(a.pid(), SIGKILL);  // mid-batch: more of its groups are decoding
    }
  };
  RolloutClient client(options);
  const auto sent = prompts(8);
  std::vector<GroupCompletions> got;
  const Status status = client.generate(sent, 4, sampling(40), 0, &got);
  ASSERT_TRUE(status.ok()) << status.to_string();
  EXPECT_TRUE(killed.load());
  EXPECT_EQ(client.live_workers(), 1u);
  expect_exactly_once(sent, got, 4);
}

TEST_F(RolloutClientTest, SigtermDrainsRunningStreamsAndExitsCleanly) {
  WorkerProcess a(*folder_);
  RolloutClientOptions options;
  options.workers = {a.address()};
  std::atomic<bool> signalled{false};
  options.on_completion = [&](size_t, const v1::Completion&) {
    if (!signalled.exchange(true)) ::kill(a.pid(), SIGTERM);
  };
  RolloutClient client(options);
  const auto sent = prompts(4);
  std::vector<GroupCompletions> got;
  // The running batch finishes during the drain; groups still queued are cancelled,
  // so the stream either completes or ends with a status: never a hang or a crash.
  const Status status = client.generate(sent, 2, sampling(30), 0, &got);
  if (status.ok()) {
    expect_exactly_once(sent, got, 2);
  } else {
    EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.to_string();
  }
  EXPECT_EQ(a.terminate_and_wait(30), 0);
}

TEST_F(RolloutClientTest, NoWorkerLeftIsAClearError) {
  std::string address;
  {
    WorkerProcess a(*folder_);
    address = a.address();
  }  // killed
  RolloutClientOptions options;
  options.workers = {address};
  options.deadline_seconds = 20;
  RolloutClient client(options);
  std::vector<GroupCompletions> got;
  const Status status = client.generate(prompts(2), 2, sampling(4), 0, &got);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("2 of 2 prompt groups could not be generated"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find(address), std::string::npos);
}

TEST_F(RolloutClientTest, ARejectedRequestIsNotRetried) {
  WorkerProcess a(*folder_);
  RolloutClientOptions options;
  options.workers = {a.address()};
  RolloutClient client(options);
  auto sent = prompts(1);
  sent[0].token_ids.push_back(9999);
  std::vector<GroupCompletions> got;
  const Status status = client.generate(sent, 2, sampling(4), 0, &got);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("outside the vocabulary"), std::string::npos) << status.message();
  EXPECT_EQ(client.live_workers(), 1u);
}

}  // namespace
}  // namespace deltarl
