// Sampling and generation: seeds reproduce, the sampler draws from the right
// distribution and truncates at top-p, greedy generate() matches transformers'
// greedy tokens, stop tokens end sequences, batching does not change a row.
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

TEST(Sampler, DrawsFromTheTemperatureScaledDistribution) {
  // p ∝ exp(logit / T): logits log(1), log(2), log(3), log(4) at T = 1 → 0.1 … 0.4.
  const torch::Tensor logits = torch::log(torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}));
  std::mt19937_64 random(5);
  std::vector<int> counts(4, 0);
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(sample_token(logits, {1.0, 1.0}, random))];
  for (int k = 0; k < 4; ++k) {
    const double p = (k + 1) / 10.0;
    EXPECT_NEAR(counts[k] / double(draws), p, 4 * std::sqrt(p * (1 - p) / draws)) << "token " << k;
  }
  // top_p = 0.7 keeps {0.4, 0.3}: tokens 0 and 1 never appear.
  std::vector<int> nucleus(4, 0);
  for (int i = 0; i < 5000; ++i) ++nucleus[static_cast<size_t>(sample_token(logits, {1.0, 0.7}, random))];
  EXPECT_EQ(nucleus[0] + nucleus[1], 0);
  EXPECT_NEAR(nucleus[3] / 5000.0, 4.0 / 7.0, 0.03);
  EXPECT_EQ(sample_token(logits, {0.0, 1.0}, random), 3);  // greedy
}

TEST(Sampler, ABatchDrawsEachRowAsItsOwnStreamWouldAlone) {
  // Rows with mixed options in one call: greedy, T = 0.7, nucleus, T = 1.5.
  torch::manual_seed(3);
  const torch::Tensor logits = torch::randn({4, 300}) * 3;
  const std::vector<SamplingParams> options = {{0.0, 1.0}, {0.7, 1.0}, {1.0, 0.8}, {1.5, 1.0}};
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<std::mt19937_64> batched, alone;
    std::vector<const SamplingParams*> params;
    std::vector<std::mt19937_64*> streams;
    for (size_t r = 0; r < options.size(); ++r) {
      batched.emplace_back(seed * 10 + r);
      alone.emplace_back(seed * 10 + r);
    }
    for (size_t r = 0; r < options.size(); ++r) {
      params.push_back(&options[r]);
      streams.push_back(&batched[r]);
    }
    const std::vector<int64_t> chosen = sample_tokens(logits, params, streams);
    for (size_t r = 0; r < options.size(); ++r) {
      EXPECT_EQ(chosen[r], sample_token(logits[static_cast<int64_t>(r)], options[r], alone[r])) << "row " << r;
      EXPECT_EQ(batched[r](), alone[r]()) << "row " << r << " consumed a different number of draws";
    }
  }
  // Against an independent reference of the draw (as the sampler was written
  // before batching): p = softmax(logits / T) in fp32, widened to fp64, then
  // the inverse CDF at a uniform from 53 random bits.
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const SamplingParams warm{0.7, 1.0};
    std::mt19937_64 stream(seed), reference_stream(seed);
    const torch::Tensor row = logits[seed % 4];
    const torch::Tensor p = torch::softmax(row / 0.7, /*dim=*/0).to(torch::kFloat64);
    const double u = static_cast<double>(reference_stream() >> 11) * 0x1.0p-53;
    int64_t expected = 0;
    double cumulative = p[0].item<double>();
    while (u >= cumulative && expected + 1 < p.numel()) cumulative += p[++expected].item<double>();
    EXPECT_EQ(sample_tokens(row.unsqueeze(0), {&warm}, {&stream}).front(), expected) << "seed " << seed;
  }
  // Greedy picks the first of tied maxima, and a NaN, as argmax does.
  const torch::Tensor tied = torch::tensor({{1.0f, 5.0f, 5.0f, 2.0f}});
  std::mt19937_64 unused(0);
  const SamplingParams greedy{0.0, 1.0};
  EXPECT_EQ(sample_tokens(tied, {&greedy}, {&unused}).front(), 1);
  const torch::Tensor with_nan = torch::tensor({{1.0f, 9.0f, NAN, 9.0f, NAN}});
  EXPECT_EQ(sample_tokens(with_nan, {&greedy}, {&unused}).front(), with_nan.argmax(/*dim=*/-1).item<int64_t>());
  EXPECT_THROW(sample_tokens(tied, {&greedy, &greedy}, {&unused}), c10::Error);
}

TEST(Sampler, RejectsAbsurdParameters) {
  EXPECT_THROW((SamplingParams{-1.0, 1.0}.validate()), InputError);
  EXPECT_THROW((SamplingParams{1.0, 0.0}.validate()), InputError);
  EXPECT_THROW((SamplingParams{1.0, 1.5}.validate()), InputError);
}

class TextGeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = load_pretrained(kFixtures + "untied");
    model_->eval();
  }
  Qwen2ForCausalLM model_{nullptr};
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
