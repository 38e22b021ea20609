#include "core/tasks/math_verifier.h"

#include <gtest/gtest.h>

namespace deltarl {
namespace {

TEST(MathVerifier, ExtractsTheLastBoxedAnswerWithNestedBraces) {
  EXPECT_EQ(extract_math_answer("so \\boxed{3} ... finally \\boxed{\\frac{1}{2}}."), "\\frac{1}{2}");
  EXPECT_EQ(extract_math_answer("\\boxed{ {a}+{b} }"), "{a}+{b}");
  EXPECT_EQ(extract_math_answer("$\\boxed 42$"), "42");
  EXPECT_EQ(extract_math_answer("Thus The Answer Is: 1,000.\nDone"), "1,000");
  EXPECT_EQ(extract_math_answer("the answer is 5. No, the answer is 7."), "7");
  EXPECT_FALSE(extract_math_answer("I do not know"));
  EXPECT_FALSE(extract_math_answer("\\boxed{unclosed"));
}

TEST(MathVerifier, NumbersCompareExactly) {
  EXPECT_TRUE(math_answers_equal("0.5", "\\frac{1}{2}"));
  EXPECT_TRUE(math_answers_equal("\\dfrac{3}{4}", "3/4"));
  EXPECT_TRUE(math_answers_equal("\\frac12", "0.5"));
  EXPECT_TRUE(math_answers_equal("-\\frac{6}{4}", "-1.5"));
  EXPECT_TRUE(math_answers_equal("1,234,567", "1234567"));
  EXPECT_TRUE(math_answers_equal("$12$", "12.0"));
  EXPECT_TRUE(math_answers_equal("+7", "7"));
  EXPECT_TRUE(math_answers_equal(".25", "1/4"));
  EXPECT_FALSE(math_answers_equal("0.33", "1/3"));
  EXPECT_FALSE(math_answers_equal("-7", "7"));
  EXPECT_FALSE(math_answers_equal("1,23", "123"));       // not a thousands separator
  EXPECT_FALSE(math_answers_equal("12", "x = 12"));
  EXPECT_FALSE(parse_math_number("1/0"));                 // not a number
  EXPECT_EQ(parse_math_number("1,234.5")->to_string(), "2469/2");
  EXPECT_FALSE(parse_math_number("1/2/3"));
}

TEST(MathVerifier, NonNumericAnswersCompareAsNormalizedText) {
  EXPECT_TRUE(math_answers_equal("\\left( 1, 2 \\right)", "(1,2)"));
  EXPECT_TRUE(math_answers_equal("x^2 + 1", "x^2+1"));
  EXPECT_FALSE(math_answers_equal("x^2 + 1", "x^2+2"));
  EXPECT_FALSE(math_answers_equal("", ""));
}

TEST(MathVerifier, Scores) {
  EXPECT_EQ(score_math("... \\boxed{\\frac{10}{4}}", "2.5").reward, 1.0);
  const auto wrong = score_math("\\boxed{3}", "4");
  EXPECT_FALSE(wrong.correct);
  EXPECT_TRUE(wrong.found_answer);
  EXPECT_EQ(score_math("no answer here", "4").found_answer, false);
}

}  // namespace
}  // namespace deltarl
