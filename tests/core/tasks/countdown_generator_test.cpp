#include "core/tasks/countdown_generator.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/input_error.h"

namespace deltarl {
namespace {

TEST(CountdownGenerator, EveryProblemIsSolvedByItsSolution) {
  CountdownGeneratorOptions options;
  options.count = 2000;
  options.min_numbers = 3;
  options.max_numbers = 4;
  options.max_number = 50;
  options.seed = 9;
  const auto examples = generate_countdown_problems(options);
  ASSERT_EQ(examples.size(), 2000u);
  for (const auto& example : examples) {
    const auto& p = example.problem;
    ASSERT_GE(p.numbers.size(), 3u);
    ASSERT_LE(p.numbers.size(), 4u);
    for (int64_t n : p.numbers) ASSERT_TRUE(n >= 1 && n <= 50);
    ASSERT_TRUE(p.target >= 1 && p.target <= 500);
    ASSERT_EQ(score_countdown("<answer>" + example.solution + "</answer>", p).outcome, CountdownOutcome::kCorrect)
        << example.solution;
  }
  // Every operator shows up across the set.
  for (char op : std::string("+-*/")) {
    EXPECT_TRUE(std::any_of(examples.begin(), examples.end(),
                            [op](const auto& e) { return e.solution.find(op) != std::string::npos; }))
        << op;
  }
}

TEST(CountdownGenerator, DeterministicForASeed) {
  CountdownGeneratorOptions options;
  options.count = 50;
  const auto a = generate_countdown_problems(options), b = generate_countdown_problems(options);
  options.seed = 1;
  const auto c = generate_countdown_problems(options);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].solution, b[i].solution);
  EXPECT_NE(a[0].solution + a[1].solution, c[0].solution + c[1].solution);
}

TEST(CountdownGenerator, BadOptionsAreErrors) {
  CountdownGeneratorOptions options;
  options.count = 0;
  EXPECT_THROW(generate_countdown_problems(options), InputError);
  options = {};
  options.min_numbers = 5;
  options.max_numbers = 3;
  EXPECT_THROW(generate_countdown_problems(options), InputError);
  options = {};
  options.max_number = 1;
  EXPECT_THROW(generate_countdown_problems(options), InputError);
}

}  // namespace
}  // namespace deltarl
