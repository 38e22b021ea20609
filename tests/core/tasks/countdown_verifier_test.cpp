// The CountDown verifier on TinyZero-format responses, including the tricky
// and reward-hacking cases.
#include "core/tasks/countdown_verifier.h"

#include <gtest/gtest.h>

namespace deltarl {
namespace {

CountdownOutcome outcome(const std::string& equation, std::vector<int64_t> numbers, int64_t target) {
  return score_countdown("<think>...</think>\n<answer>" + equation + "</answer>", {numbers, target}).outcome;
}

TEST(CountdownVerifier, CorrectEquationsInExactArithmetic) {
  EXPECT_EQ(outcome("(6 + 4) * 2 - 1", {6, 4, 2, 1}, 19), CountdownOutcome::kCorrect);
  EXPECT_EQ(outcome("6/4*2", {6, 4, 2}, 3), CountdownOutcome::kCorrect);          // 1.5 * 2, exactly
  EXPECT_EQ(outcome("1/3 + 1/3 + 1/3", {1, 3, 1, 3, 1, 3}, 1), CountdownOutcome::kCorrect);  // no 0.999…
  EXPECT_EQ(outcome(" 50+25-7+3 ", {3, 7, 25, 50}, 71), CountdownOutcome::kCorrect);
  EXPECT_EQ(outcome("((((8))))-((3))", {8, 3}, 5), CountdownOutcome::kCorrect);
  EXPECT_EQ(outcome("5 - 7", {5, 7}, -2), CountdownOutcome::kCorrect);
  const auto verdict = score_countdown("<answer>2*3</answer>", {{2, 3}, 6});
  EXPECT_EQ(verdict.reward, 1.0);
  EXPECT_EQ(verdict.equation, "2*3");
}

TEST(CountdownVerifier, EveryNumberExactlyAsOftenAsGiven) {
  EXPECT_EQ(outcome("6 + 6", {6, 6}, 12), CountdownOutcome::kCorrect);
  EXPECT_EQ(outcome("6 + 6", {6}, 12), CountdownOutcome::kWrongNumbers);        // reused
  EXPECT_EQ(outcome("6", {6, 6}, 6), CountdownOutcome::kWrongNumbers);          // one unused
  EXPECT_EQ(outcome("6 * 1", {6, 2}, 6), CountdownOutcome::kWrongNumbers);      // not given
  EXPECT_EQ(outcome("12 + 3", {1, 2, 3}, 15), CountdownOutcome::kWrongNumbers); // digit concatenation
}

TEST(CountdownVerifier, RewardHackingAndMalformedEquations) {
  EXPECT_EQ(outcome("2 ** 3", {2, 3}, 8), CountdownOutcome::kSyntaxError);
  EXPECT_EQ(outcome("2 ^ 3", {2, 3}, 8), CountdownOutcome::kInvalidCharacters);
  EXPECT_EQ(outcome("2.5 * 2", {2, 2}, 5), CountdownOutcome::kInvalidCharacters);  // no decimal points
  EXPECT_EQ(outcome("-2 + 5", {2, 5}, 3), CountdownOutcome::kSyntaxError);         // no unary minus
  EXPECT_EQ(outcome("2(3)", {2, 3}, 6), CountdownOutcome::kSyntaxError);           // no implicit product
  EXPECT_EQ(outcome("2 3", {2, 3}, 23), CountdownOutcome::kSyntaxError);           // no concatenation by space
  EXPECT_EQ(outcome("(2 + 3", {2, 3}, 5), CountdownOutcome::kSyntaxError);
  EXPECT_EQ(outcome("2 + 3)", {2, 3}, 5), CountdownOutcome::kSyntaxError);
  EXPECT_EQ(outcome("", {2, 3}, 5), CountdownOutcome::kSyntaxError);
  EXPECT_EQ(outcome("02 + 3", {2, 3}, 5), CountdownOutcome::kSyntaxError);          // leading zero
  EXPECT_EQ(outcome("2 + 3 = 5", {2, 3, 5}, 5), CountdownOutcome::kInvalidCharacters);
  EXPECT_EQ(outcome("import os", {2, 3}, 5), CountdownOutcome::kInvalidCharacters);
  EXPECT_EQ(outcome(std::string(1000, '(') + "1" + std::string(1000, ')'), {1}, 1), CountdownOutcome::kSyntaxError);
}

TEST(CountdownVerifier, DivisionByZeroAndOverflowAreWrongNotCrashes) {
  EXPECT_EQ(outcome("5 / (3 - 3)", {5, 3, 3}, 1), CountdownOutcome::kDivisionByZero);
  EXPECT_EQ(outcome("99999999999 * 99999999999 * 99999999999", {99999999999, 99999999999, 99999999999}, 1),
            CountdownOutcome::kOverflow);
  EXPECT_EQ(outcome("1234567890123456789012 + 1", {1, 1}, 2), CountdownOutcome::kOverflow);
}

TEST(CountdownVerifier, TheLastAnswerBlockIsJudgedAndFormatRewardApplies) {
  const CountdownProblem problem{{2, 3}, 6};
  EXPECT_EQ(score_countdown("<answer>2+3</answer> no wait <answer>2*3</answer>", problem).outcome,
            CountdownOutcome::kCorrect);
  EXPECT_EQ(score_countdown("<answer>2*3</answer> no wait <answer>2+3</answer>", problem).outcome,
            CountdownOutcome::kWrongValue);
  const auto no_answer = score_countdown("the answer is 2*3", problem, /*format_reward=*/0.1);
  EXPECT_EQ(no_answer.outcome, CountdownOutcome::kNoAnswer);
  EXPECT_EQ(no_answer.reward, 0.0);
  EXPECT_EQ(score_countdown("<answer>2+3</answer>", problem, 0.1).reward, 0.1);
  EXPECT_EQ(score_countdown("<answer>2+3</answer>", problem).reward, 0.0);
  EXPECT_EQ(score_countdown("<answer>2*3", problem).outcome, CountdownOutcome::kNoAnswer);
}

}  // namespace
}  // namespace deltarl
