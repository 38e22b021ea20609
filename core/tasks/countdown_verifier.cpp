#include "core/tasks/countdown_verifier.h"

#include <algorithm>

namespace deltarl {

namespace {

constexpr int kMaxNesting = 200;  // deeper parentheses are refused, not recursed into

// Recursive descent over  expr := term (+|- term)* ; term := factor (*|/ factor)* ;
// factor := number | ( expr ).  Stops at the first failure.
class EquationParser {
 public:
  explicit EquationParser(std::string_view text) : text_(text) {}

  EquationValue parse() {
    EquationValue result;
    Rational value;
    if (!expression(value, 0)) {
      result.outcome = failure_;
      return result;
    }
    skip_spaces();
    if (position_ != text_.size()) {
      result.outcome = CountdownOutcome::kSyntaxError;
      return result;
    }
    result.value = value;
    result.numbers = numbers_;
    return result;
  }

 private:
  void skip_spaces() {
    while (position_ < text_.size() && text_[position_] == ' ') ++position_;
  }
  char peek() {
    skip_spaces();
    return position_ < text_.size() ? text_[position_] : '\0';
  }
  bool fail(CountdownOutcome outcome) {
    if (failure_ == CountdownOutcome::kCorrect) failure_ = outcome;
    return false;
  }
  bool combine(char operation, Rational& left, const Rational& right) {
    const ArithmeticResult result = apply(operation, left, right);
    if (result.error == ArithmeticError::kDivisionByZero) return fail(CountdownOutcome::kDivisionByZero);
    if (result.error == ArithmeticError::kOverflow) return fail(CountdownOutcome::kOverflow);
    left = result.value;
    return true;
  }
  bool expression(Rational& value, int depth) {
    if (!term(value, depth)) return false;
    for (char c = peek(); c == '+' || c == '-'; c = peek()) {
      ++position_;
      Rational right;
      if (!term(right, depth) || !combine(c, value, right)) return false;
    }
    return true;
  }
  bool term(Rational& value, int depth) {
    if (!factor(value, depth)) return false;
    for (char c = peek(); c == '*' || c == '/'; c = peek()) {
      ++position_;
      Rational right;
      if (!factor(right, depth) || !combine(c, value, right)) return false;
    }
    return true;
  }
  bool factor(Rational& value, int depth) {
    const char c = peek();
    if (c == '(') {
      if (depth >= kMaxNesting) return fail(CountdownOutcome::kSyntaxError);
      ++position_;
      if (!expression(value, depth + 1)) return false;
      if (peek() != ')') return fail(CountdownOutcome::kSyntaxError);
      ++position_;
      return true;
    }
    if (c < '0' || c > '9') return fail(CountdownOutcome::kSyntaxError);  // also unary +/-
    const size_t start = position_;
    while (position_ < text_.size() && text_[position_] >= '0' && text_[position_] <= '9') ++position_;
    const std::string_view digits = text_.substr(start, position_ - start);
    if (digits.size() > 1 && digits[0] == '0') return fail(CountdownOutcome::kSyntaxError);  // "07"
    if (digits.size() > 18) return fail(CountdownOutcome::kOverflow);
    int64_t number = 0;
    for (char d : digits) number = number * 10 + (d - '0');
    numbers_.push_back(number);
    value = Rational(number);
    return true;
  }

  std::string_view text_;
  size_t position_ = 0;
  std::vector<int64_t> numbers_;
  CountdownOutcome failure_ = CountdownOutcome::kCorrect;
};

std::string_view trim(std::string_view text) {
  const char* spaces = " \t\r\n";
  const size_t begin = text.find_first_not_of(spaces);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(spaces) - begin + 1);
}

}  // namespace

const char* countdown_outcome_name(CountdownOutcome outcome) {
  switch (outcome) {
    case CountdownOutcome::kCorrect: return "correct";
    case CountdownOutcome::kNoAnswer: return "no_answer";
    case CountdownOutcome::kInvalidCharacters: return "invalid_characters";
    case CountdownOutcome::kSyntaxError: return "syntax_error";
    case CountdownOutcome::kWrongNumbers: return "wrong_numbers";
    case CountdownOutcome::kDivisionByZero: return "division_by_zero";
    case CountdownOutcome::kOverflow: return "overflow";
    case CountdownOutcome::kWrongValue: return "wrong_value";
  }
  return "unknown";
}

bool last_answer_block(std::string_view response, std::string* answer) {
  const std::string_view open = "<answer>", close = "</answer>";
  const size_t end = response.rfind(close);
  if (end == std::string_view::npos) return false;
  const size_t begin = response.rfind(open, end);
  if (begin == std::string_view::npos) return false;
  *answer = std::string(response.substr(begin + open.size(), end - begin - open.size()));
  return true;
}

EquationValue evaluate_equation(std::string_view equation) {
  for (char c : equation) {
    const bool allowed = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '*' || c == '/' || c == '(' ||
                         c == ')' || c == ' ';
    if (!allowed) {
      EquationValue invalid;
      invalid.outcome = CountdownOutcome::kInvalidCharacters;
      return invalid;
    }
  }
  return EquationParser(equation).parse();
}

CountdownVerdict score_countdown(std::string_view response, const CountdownProblem& problem, double format_reward) {
  CountdownVerdict verdict;
  std::string answer;
  if (!last_answer_block(response, &answer)) return verdict;  // kNoAnswer, reward 0
  verdict.equation = std::string(trim(answer));
  verdict.reward = format_reward;
  const EquationValue evaluated = evaluate_equation(verdict.equation);
  if (evaluated.outcome != CountdownOutcome::kCorrect) {
    verdict.outcome = evaluated.outcome;
    return verdict;
  }
  std::vector<int64_t> used = evaluated.numbers, given = problem.numbers;
  std::sort(used.begin(), used.end());
  std::sort(given.begin(), given.end());
  if (used != given) {
    verdict.outcome = CountdownOutcome::kWrongNumbers;
    return verdict;
  }
  if (evaluated.value != Rational(problem.target)) {
    verdict.outcome = CountdownOutcome::kWrongValue;
    return verdict;
  }
  verdict.outcome = CountdownOutcome::kCorrect;
  verdict.reward = 1.0;
  return verdict;
}

}  // namespace deltarl
