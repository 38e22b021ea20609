// Output ids beyond the tokenizer (Note [Output ids beyond the tokenizer] in
// core/tokenizer/response_text.h): a real rollout worker on 127.0.0.1 serves a
// model whose output layer has 256 rows more than its tokenizer has tokens, as
// the Qwen checkpoints do (151,936 rows, 151,669 tokens), and samples those rows
// for certain. The worker streams them with their log-probs and a reward, stays
// up and serves the next request; the learner's update takes the samples with
// log-probs equal to the worker's.
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/preset_files.h"
#include "core/tokenizer/tokenizer.h"
#include "rollout_workers/rollout_server.h"
#include "tests/rollout_workers/dominant_output_rows.h"
#include "trainer/algorithm/policy_update.h"
#include "trainer/rollout/rollout_client.h"
#include "tests/support/single_rank_update.h"

namespace deltarl {
namespace {

constexpr int64_t kMaxNewTokens = 8;

class OutputIdsBeyondTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new std::string(make_temporary_directory("deltarl_padding_rows_"));
    const Tokenizer tokenizer = Tokenizer::from_file(countdown_tokenizer_path());
    tokenizer_size_ = tokenizer.vocab_size();
    torch::manual_seed(17);
    ModelConfig config = ModelConfig::preset("tiny", /*vocab_size=*/tokenizer_size_ + 256);
    config.max_position_embeddings = 96;
    config.tie_word_embeddings = false;
    CausalLM model(config);
    {
      // Padding rows as a checkpoint may ship them, never likely: zero logits, below
      // the largest real one (so greedy decoding without the bias never picks them).
      torch::NoGradGuard no_grad;
      model->lm_head->weight.narrow(0, tokenizer_size_, 256).zero_();
    }
    // The bias: every sampled id is a padding row, for certain (dominant_output_rows.h).
    testing_support::make_output_rows_dominant(model, /*first_row=*/tokenizer_size_);
    save_pretrained(model, *folder_);
    copy_file(countdown_tokenizer_path(), join_path(*folder_, "tokenizer.json"));
    prompt_ids_ = new std::vector<int32_t>(tokenizer.encode("Using the numbers [3, 5, 7], make 22. <answer>"));
    RolloutServerOptions options;
    options.model_folder = *folder_;
    options.max_batch_sequences = 8;
    server_ = new RolloutServer(options);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete prompt_ids_;
    remove_tree(*folder_);
    delete folder_;
  }

  static std::vector<PromptGroup> prompts() {
    std::vector<PromptGroup> groups;
    for (uint64_t g = 0; g < 2; ++g) {
      PromptGroup group;
      group.group_id = g;
      group.token_ids = *prompt_ids_;
      group.task = "countdown";
      group.task_payload_json = R"({"numbers":[3,5,7],"target":22})";
      group.seed = 40 + g;
      groups.push_back(std::move(group));
    }
    return groups;
  }

  static v1::SamplingParams sampling(double temperature) {
    v1::SamplingParams params;
    params.set_temperature(temperature);
    params.set_max_new_tokens(kMaxNewTokens);
    return params;
  }

  static int64_t padding_ids_in(const std::vector<GroupCompletions>& groups) {
    int64_t count = 0;
    for (const auto& group : groups) {
      for (const auto& completion : group.samples) {
        for (int32_t id : completion.token_ids()) count += id >= tokenizer_size_;
      }
    }
    return count;
  }

  static std::string* folder_;
  static RolloutServer* server_;
  static int64_t tokenizer_size_;
  static std::vector<int32_t>* prompt_ids_;
};

std::string* OutputIdsBeyondTokenizerTest::folder_ = nullptr;
RolloutServer* OutputIdsBeyondTokenizerTest::server_ = nullptr;
int64_t OutputIdsBeyondTokenizerTest::tokenizer_size_ = 0;
std::vector<int32_t>* OutputIdsBeyondTokenizerTest::prompt_ids_ = nullptr;

TEST_F(OutputIdsBeyondTokenizerTest, TheWorkerStreamsThemWithARewardAndTheLearnerTrainsOnThem) {
  RolloutClientOptions client_options;
  client_options.workers = {server_->address()};
  client_options.deadline_seconds = 60;
  RolloutClient client(client_options);
  std::vector<GroupCompletions> groups;
  // Greedy: without the bias the padding rows' zero logits never win.
  Status status = client.generate(prompts(), /*samples_per_prompt=*/2, sampling(0.0), /*min_policy_version=*/0, &groups);
  ASSERT_TRUE(status.ok()) << status.to_string();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_GE(padding_ids_in(groups), 1) << "the test did not sample a padding row";
  std::vector<RolloutSample> samples;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const auto& completion : groups[g].samples) {
      // Every id kept, with its log-prob; the reward scored on the text without them.
      EXPECT_EQ(completion.length(), kMaxNewTokens);
      EXPECT_EQ(completion.token_ids_size(), completion.length());
      EXPECT_EQ(completion.log_probs_size(), completion.length());
      for (int32_t id : completion.token_ids()) EXPECT_LT(id, tokenizer_size_ + 256);
      EXPECT_EQ(completion.reward_outcome(), "no_answer");  // the verifier ran on "" and said so
      EXPECT_EQ(completion.reward(), 0.0);
      RolloutSample sample;  // as StepRollouts makes it
      sample.group = static_cast<int64_t>(g);
      sample.sample_index = completion.sample_index();
      sample.prompt_ids = *prompt_ids_;
      sample.response_ids.assign(completion.token_ids().begin(), completion.token_ids().end());
      sample.rollout_log_probs.assign(completion.log_probs().begin(), completion.log_probs().end());
      sample.reward = completion.sample_index() == 0 ? 1.0 : 0.0;  // a signal, so the update has a gradient
      samples.push_back(std::move(sample));
    }
  }

  // The learner: one policy update on these samples, log-probs recomputed from the checkpoint.
  CausalLM learner = load_pretrained(*folder_);
  AdamW optimizer(learner->named_parameters(), AdamWOptions{0.9, 0.999, 1e-8, 0.0});
  PolicyUpdateOptions options;
  options.aggregation.max_response_length = kMaxNewTokens;
  options.micro_batching.size = 4;
  PolicyUpdater updater(learner, nullptr, optimizer, options);
  const PolicyUpdateResult result =
      testing_support::single_rank_update(updater, samples, /*groups=*/2, /*learning_rate=*/1e-4);
  EXPECT_EQ(result.tokens, 4 * kMaxNewTokens);
  EXPECT_FALSE(result.skipped);
  EXPECT_GT(result.grad_norm, 0);
  EXPECT_LT(result.mismatch_max, 1e-4) << "the learner's log-probs differ from the worker's";

  // The worker is still up: a sampled request (temperature 1) is served, padding rows again.
  groups.clear();
  status = client.generate(prompts(), /*samples_per_prompt=*/2, sampling(1.0), /*min_policy_version=*/0, &groups);
  ASSERT_TRUE(status.ok()) << status.to_string();
  EXPECT_EQ(padding_ids_in(groups), 4 * kMaxNewTokens);
}

}  // namespace
}  // namespace deltarl
