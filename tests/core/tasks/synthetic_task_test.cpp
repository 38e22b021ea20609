// The synthetic test task: the verifier rewards a response that contains any
// named target, the generator is a pure function of its seed, and bad payloads
// are InputErrors naming the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/tasks/synthetic_generator.h"
#include "core/tasks/synthetic_verifier.h"
#include "core/tasks/task_verifier.h"
#include "tests/support/input_error_message.h"

namespace deltarl {
namespace {

using testing_support::input_error_message;

TEST(SyntheticVerifier, RewardsAResponseContainingAnyTarget) {
  const SyntheticProblem problem{{"7", "Q", "ab"}};
  EXPECT_EQ(score_synthetic("xx7y", problem).reward, 1.0);
  EXPECT_EQ(score_synthetic("Q", problem).outcome, SyntheticOutcome::kCorrect);
  EXPECT_EQ(score_synthetic("the cab", problem).reward, 1.0);  // a multi-character target, inside a word
  EXPECT_EQ(score_synthetic("q a b 8", problem).reward, 0.0);  // case matters; "ab" must be contiguous
  EXPECT_EQ(score_synthetic("", problem).outcome, SyntheticOutcome::kNoTarget);
  EXPECT_STREQ(synthetic_outcome_name(SyntheticOutcome::kNoTarget), "no_target");
}

TEST(SyntheticVerifier, TaskVerifierScoresThePayload) {
  const TaskVerifier verifier = TaskVerifier::parse("synthetic", R"({"targets":["3","K"]})", "prompts[0]");
  EXPECT_EQ(verifier.score("ab K").reward, 1.0);
  EXPECT_EQ(verifier.score("ab K").outcome, "correct");
  EXPECT_EQ(verifier.score("abk").reward, 0.0);
  EXPECT_EQ(verifier.score("abk").outcome, "no_target");
}

TEST(SyntheticVerifier, BadPayloadsNameTheField) {
  auto parse = [](const char* payload) {
    return input_error_message([&] { TaskVerifier::parse("synthetic", payload, "prompts[2]"); });
  };
  EXPECT_NE(parse(R"({"answer":"3"})").find("prompts[2].task_payload_json: \"targets\" must be a list"),
            std::string::npos);
  EXPECT_NE(parse(R"({"targets":"3"})").find("\"targets\" must be a list"), std::string::npos);
  EXPECT_NE(parse(R"({"targets":[]})").find("must hold 1 to 256 strings, not 0"), std::string::npos);
  EXPECT_NE(parse(R"({"targets":["3",""]})").find("each target must be a non-empty string"), std::string::npos);
  EXPECT_NE(parse(R"({"targets":["3",4]})").find("\"targets\" holds 4"), std::string::npos);
  EXPECT_NE(parse("not json").find("prompts[2]"), std::string::npos);
  EXPECT_NE(input_error_message([] { TaskVerifier::parse("synthetc", "{}", "prompts[0]"); })
                .find("tasks: countdown, math, synthetic"),
            std::string::npos);
}

TEST(SyntheticGenerator, DrawsDistinctTargetsFromThePool) {
  SyntheticGeneratorOptions options;
  options.count = 500;
  options.targets_per_prompt = 5;
  options.seed = 3;
  const auto problems = generate_synthetic_problems(options);
  ASSERT_EQ(problems.size(), 500u);
  std::set<std::string> seen;
  for (const auto& problem : problems) {
    ASSERT_EQ(problem.targets.size(), 5u);
    const std::set<std::string> distinct(problem.targets.begin(), problem.targets.end());
    EXPECT_EQ(distinct.size(), 5u);
    for (const auto& target : problem.targets) {
      ASSERT_EQ(target.size(), 1u);
      EXPECT_NE(kSyntheticSymbols.find(target[0]), std::string_view::npos) << target;
      seen.insert(target);
    }
    EXPECT_TRUE(std::is_sorted(problem.targets.begin(), problem.targets.end()));  // the pool's order is ASCII's
  }
  EXPECT_EQ(seen.size(), kSyntheticSymbols.size());  // 2500 draws reach every symbol
}

TEST(SyntheticGenerator, DeterministicForASeedAndDifferentAcrossSeeds) {
  SyntheticGeneratorOptions options;
  options.count = 50;
  options.seed = 11;
  const auto first = generate_synthetic_problems(options);
  const auto again = generate_synthetic_problems(options);
  options.seed = 12;
  const auto other = generate_synthetic_problems(options);
  size_t same_as_other = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].targets, again[i].targets);
    same_as_other += first[i].targets == other[i].targets;
  }
  EXPECT_LT(same_as_other, 3u);
  // std::mt19937_64's sequence is fixed by the standard, so the file is the same
  // on every platform. The expected draw is what tests/reference/synthetic_task_draws.py
  // (mt19937_64 and the partial Fisher-Yates in plain Python) prints for "0 1 3".
  options.seed = 0;
  options.count = 1;
  options.targets_per_prompt = 3;
  EXPECT_EQ(generate_synthetic_problems(options)[0].targets, (std::vector<std::string>{"6", "9", "I"}));
}

TEST(SyntheticGenerator, BadOptionsNameTheOption) {
  SyntheticGeneratorOptions options;
  options.count = 0;
  EXPECT_NE(input_error_message([&] { generate_synthetic_problems(options); }).find("--count"), std::string::npos);
  options.count = 1;
  options.targets_per_prompt = 37;
  EXPECT_NE(input_error_message([&] { generate_synthetic_problems(options); })
                .find("--targets must be in [1, 36], got 37"),
            std::string::npos);
  options.targets_per_prompt = 0;
  EXPECT_NE(input_error_message([&] { generate_synthetic_problems(options); }).find("--targets"), std::string::npos);
}

}  // namespace
}  // namespace deltarl
