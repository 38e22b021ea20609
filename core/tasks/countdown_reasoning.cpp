#include "core/tasks/countdown_reasoning.h"

#include <algorithm>
#include <optional>

namespace deltarl {

namespace {

// A left-nested equation ((a op b) op c) op d written as its binary steps.
struct Attempt {
  std::string steps;     // "6*2=12 12+2=14"
  std::string equation;  // "6*2+2", parenthesized where precedence needs it
  int64_t value = 0;
};

// Evaluates `numbers` combined left to right with `operators`; nullopt when a
// step divides by zero or leaves the integers (the model is taught whole
// numbers only).
std::optional<Attempt> left_nested(const std::vector<int64_t>& numbers, const std::vector<char>& operators) {
  Attempt attempt;
  int64_t value = numbers[0];
  attempt.equation = std::to_string(numbers[0]);
  bool last_additive = false;
  for (size_t i = 1; i < numbers.size(); ++i) {
    const char op = operators[i - 1];
    const int64_t operand = numbers[i];
    int64_t next = 0;
    switch (op) {
      case '+': next = value + operand; break;
      case '-': next = value - operand; break;
      case '*': next = value * operand; break;
      default:
        if (operand == 0 || value % operand != 0) return std::nullopt;
        next = value / operand;
    }
    if (!attempt.steps.empty()) attempt.steps += ' ';
    attempt.steps += std::to_string(value) + op + std::to_string(operand) + "=" + std::to_string(next);
    const bool multiplicative = op == '*' || op == '/';
    if (multiplicative && last_additive) attempt.equation = "(" + attempt.equation + ")";
    attempt.equation += op + std::to_string(operand);
    last_additive = !multiplicative;
    value = next;
  }
  attempt.value = value;
  return attempt;
}

constexpr char kOperators[] = {'+', '-', '*', '/'};

std::optional<Attempt> random_attempt(std::vector<int64_t> numbers, std::mt19937_64& random) {
  std::shuffle(numbers.begin(), numbers.end(), random);
  std::vector<char> operators;
  for (size_t i = 1; i < numbers.size(); ++i) operators.push_back(kOperators[random() % 4]);
  return left_nested(numbers, operators);
}

// Every left-nested equation over the numbers that reaches the target.
std::vector<Attempt> left_nested_solutions(std::vector<int64_t> numbers, int64_t target) {
  std::vector<Attempt> solutions;
  std::sort(numbers.begin(), numbers.end());
  do {
    const size_t slots = numbers.size() - 1;
    size_t combinations = 1;
    for (size_t i = 0; i < slots; ++i) combinations *= 4;
    for (size_t code = 0; code < combinations; ++code) {
      std::vector<char> operators;
      for (size_t i = 0, rest = code; i < slots; ++i, rest /= 4) operators.push_back(kOperators[rest % 4]);
      if (auto attempt = left_nested(numbers, operators); attempt && attempt->value == target) {
        solutions.push_back(*attempt);
      }
    }
  } while (std::next_permutation(numbers.begin(), numbers.end()));
  return solutions;
}

std::string compact(const std::string& equation) {
  std::string text;
  for (char c : equation) {
    if (c != ' ') text += c;
  }
  return text;
}

}  // namespace

std::string countdown_reasoning_response(const CountdownExample& example, int64_t max_failed_attempts,
                                         std::mt19937_64& random) {
  const int64_t failures =
      max_failed_attempts > 0 ? static_cast<int64_t>(random() % static_cast<uint64_t>(max_failed_attempts + 1)) : 0;
  std::string think;
  for (int64_t attempt = 0, tries = 0; attempt < failures && tries < 50 * (failures + 1); ++tries) {
    const auto tried = random_attempt(example.problem.numbers, random);
    if (!tried || tried->value == example.problem.target) continue;
    think += tried->steps + " no\n";
    ++attempt;
  }
  const auto solutions = left_nested_solutions(example.problem.numbers, example.problem.target);
  std::string answer;
  if (solutions.empty()) {
    // Only a nested form like a*b-c*d solves it: state the generator's solution whole.
    answer = compact(example.solution);
    think += answer + "=" + std::to_string(example.problem.target) + " yes";
  } else {
    const Attempt& chosen = solutions[random() % solutions.size()];
    answer = chosen.equation;
    think += chosen.steps + " yes";
  }
  return "<think>" + think + "</think>\n<answer>" + answer + "</answer>";
}

}  // namespace deltarl
