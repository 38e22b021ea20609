// generate(): seeds reproduce, greedy generate() matches transformers' greedy
// tokens, stop tokens end sequences, batching does not change a row. The
// sampler's own tests are in sampler_test.cpp.
#include "core/model/text_generator.h"

#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "core/input_error.h"
#include "core/model/hf_checkpoint.h"
#include "core/safetensors.h"
#include "tests/support/greedy_margin.h"

namespace deltarl {
namespace {

const std::string kFixtures = std::string(DELTARL_TEST_FIXTURES_DIR) + "/qwen2-tiny/";

class TextGeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = load_pretrained(kFixtures + "untied");
    model_->eval();
  }
  CausalLM model_{nullptr};
};

TEST_F(TextGeneratorTest, GreedyMatchesTransformersGenerate) {
  SafetensorsFile cases(kFixtures + "untied/cases.safetensors");
  const torch::Tensor prompt = cases.tensor("greedy_prompt").clone(), expected = cases.tensor("greedy_tokens").clone();
  GenerationOptions options;
  options.sampling.temperature = 0;
  options.max_new_tokens = expected.size(1);
  const auto result = generate(model_, {std::vector<int64_t>(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + prompt.numel())},
                               {0}, options)[0];
  const std::vector<int64_t> expected_tokens(expected.data_ptr<int64_t>(), expected.data_ptr<int64_t>() + expected.numel());
  EXPECT_EQ(result.tokens, expected_tokens);
  // Far above the logits' rounding: equal tokens do not hang on a CPU's kernels.
  const std::vector<int64_t> prompt_ids(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + prompt.numel());
  EXPECT_GT(testing_support::smallest_greedy_margin(model_, prompt_ids, expected_tokens), 1e-3);
  EXPECT_EQ(result.finish_reason, "length");
  ASSERT_EQ(result.log_probs.size(), result.tokens.size());
  for (float lp : result.log_probs) EXPECT_LE(lp, 0.0f);
}

TEST_F(TextGeneratorTest, SeedsReproduceAndBatchingDoesNotChangeARow) {
  GenerationOptions options;
  options.max_new_tokens = 12;
  const std::vector<int64_t> a = {5, 17, 42}, b = {9, 9, 100, 250, 31, 7};
  const auto alone = generate(model_, {a}, {123}, options)[0];
  const auto again = generate(model_, {a}, {123}, options)[0];
  EXPECT_EQ(alone.tokens, again.tokens);
  const auto other_seed = generate(model_, {a}, {124}, options)[0];
  EXPECT_NE(alone.tokens, other_seed.tokens);
  const auto batched = generate(model_, {b, a}, {7, 123}, options);
  EXPECT_EQ(batched[1].tokens, alone.tokens);  // left padding and a batch neighbour change nothing
  for (size_t i = 0; i < alone.log_probs.size(); ++i) EXPECT_NEAR(batched[1].log_probs[i], alone.log_probs[i], 1e-4);
}

TEST_F(TextGeneratorTest, StopTokensEndASequence) {
  GenerationOptions options;
  options.sampling.temperature = 0;
  options.max_new_tokens = 8;
  const auto free_run = generate(model_, {{3, 4, 5}}, {0}, options)[0];
  options.stop_token_ids = {free_run.tokens[2]};
  const auto stopped = generate(model_, {{3, 4, 5}}, {0}, options)[0];
  EXPECT_EQ(stopped.finish_reason, "stop");
  const auto first_stop = std::find(free_run.tokens.begin(), free_run.tokens.end(), free_run.tokens[2]);
  EXPECT_EQ(stopped.tokens, std::vector<int64_t>(free_run.tokens.begin(), first_stop + 1));
}

TEST_F(TextGeneratorTest, BadRequestsAreErrors) {
  GenerationOptions options;
  EXPECT_THROW(generate(model_, {{1, 300}}, {0}, options), InputError);  // id outside the vocabulary
  EXPECT_THROW(generate(model_, {{}}, {0}, options), InputError);
  options.max_new_tokens = 200;  // context is 128
  EXPECT_THROW(generate(model_, {{1, 2}}, {0}, options), InputError);
  options.max_new_tokens = 0;
  EXPECT_THROW(generate(model_, {{1, 2}}, {0}, options), InputError);
}

}  // namespace
}  // namespace deltarl
