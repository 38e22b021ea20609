// The CountDown verifier, in TinyZero's format: the response reasons in
// <think>…</think> and ends with <answer>equation</answer>. The LAST answer
// block is judged. The equation must use every given number exactly as often
// as given, only + - * / ( ), digits and spaces, written as binary operations
// (no unary minus, no implicit multiplication); it is evaluated in exact
// rational arithmetic (6/4*2 is 3) and must equal the target. Division by zero
// is wrong, not a crash.
//
// Reward hacking is closed off by construction: "**" and other operators are
// syntax errors, "12" from given 1 and 2 fails the number check (no digit
// concatenation), "." and any other character are invalid.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tasks/rational.h"

namespace deltarl {

struct CountdownProblem {
  std::vector<int64_t> numbers;  // each used exactly once (multiset)
  int64_t target = 0;
};

enum class CountdownOutcome {
  kCorrect,
  kNoAnswer,            // no <answer>…</answer> block
  kInvalidCharacters,   // anything but digits, + - * / ( ) and spaces
  kSyntaxError,         // not a well-formed binary expression
  kWrongNumbers,        // the multiset of numbers differs from the given one
  kDivisionByZero,
  kOverflow,            // an intermediate value outside 64-bit fractions
  kWrongValue,          // well-formed, right numbers, different value
};

const char* countdown_outcome_name(CountdownOutcome outcome);

struct CountdownVerdict {
  CountdownOutcome outcome = CountdownOutcome::kNoAnswer;
  double reward = 0;       // 1 when correct, else the format reward (see below)
  std::string equation;    // the judged equation, trimmed ("" without an answer block)
};

// Reward: 1 for kCorrect; `format_reward` when there is an answer block but it
// is wrong; 0 without an answer block.
CountdownVerdict score_countdown(std::string_view response, const CountdownProblem& problem,
                                 double format_reward = 0.0);

// Evaluates an equation under the rules above, without the number check.
// Returns kCorrect with `value` set, or the failure.
struct EquationValue {
  CountdownOutcome outcome = CountdownOutcome::kCorrect;
  Rational value;
  std::vector<int64_t> numbers;  // the numbers used, in order of appearance
};
EquationValue evaluate_equation(std::string_view equation);

// The text of the last <answer>…</answer> block, if any.
bool last_answer_block(std::string_view response, std::string* answer);

}  // namespace deltarl
