#include "core/tasks/countdown_generator.h"

#include <algorithm>
#include <random>
#include <stdexcept>

#include "core/input_error.h"

namespace deltarl {

void CountdownGeneratorOptions::validate() const {
  if (count < 1) throw InputError("--count must be >= 1");
  if (min_numbers < 2 || max_numbers < min_numbers || max_numbers > 6) {
    throw InputError("--numbers must be a range within 2..6, like 3..4");
  }
  if (max_number < 2 || max_number > 1000000) throw InputError("--max-number must be in [2, 1000000]");
  if (max_target < 0) throw InputError("--max-target must be >= 0");
}

namespace {

struct Term {
  Rational value;
  std::string text;
  bool is_sum = false;  // top-level + or -: needs brackets inside * and /, and right of -
};

// Combines randomly until one term is left; nullopt-like failure via `ok`.
bool random_expression(std::vector<Term> terms, std::mt19937_64& random, Term* result) {
  while (terms.size() > 1) {
    std::uniform_int_distribution<size_t> pick(0, terms.size() - 1);
    const size_t i = pick(random);
    size_t j = pick(random);
    while (j == i) j = pick(random);
    const char operation = "+-*/"[std::uniform_int_distribution<int>(0, 3)(random)];
    const ArithmeticResult value = apply(operation, terms[i].value, terms[j].value);
    if (!value.ok()) return false;
    const bool product = operation == '*' || operation == '/';
    auto wrap = [&](const Term& t, bool right) {
      const bool bracket = t.is_sum && (product || (operation == '-' && right)) ;
      const bool bracket_product = operation == '/' && right && !t.is_sum && t.text.find_first_of("*/") != std::string::npos;
      return (bracket || bracket_product) ? "(" + t.text + ")" : t.text;
    };
    Term combined{value.value, wrap(terms[i], false) + " " + operation + " " + wrap(terms[j], true), !product};
    const size_t high = std::max(i, j), low = std::min(i, j);
    terms.erase(terms.begin() + static_cast<std::ptrdiff_t>(high));
    terms[low] = combined;
  }
  *result = terms.front();
  return true;
}

}  // namespace

std::vector<CountdownExample> generate_countdown_problems(const CountdownGeneratorOptions& options) {
  options.validate();
  const int64_t max_target = options.max_target > 0 ? options.max_target : 10 * options.max_number;
  std::mt19937_64 random(options.seed);
  std::uniform_int_distribution<int64_t> how_many(options.min_numbers, options.max_numbers);
  std::uniform_int_distribution<int64_t> number(1, options.max_number);
  std::vector<CountdownExample> examples;
  const int64_t attempts_allowed = options.count * 10000;
  for (int64_t attempt = 0; static_cast<int64_t>(examples.size()) < options.count; ++attempt) {
    if (attempt >= attempts_allowed) {
      throw InputError("could not find " + std::to_string(options.count) +
                       " solvable problems with these options; widen --max-number or --max-target");
    }
    std::vector<Term> terms;
    CountdownExample example;
    const int64_t n = how_many(random);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t value = number(random);
      example.problem.numbers.push_back(value);
      terms.push_back({Rational(value), std::to_string(value), false});
    }
    Term expression;
    if (!random_expression(terms, random, &expression)) continue;
    const Rational& value = expression.value;
    if (!value.is_integer() || value.numerator() < 1 || value.numerator() > max_target) continue;
    example.problem.target = value.numerator();
    example.solution = expression.text;
    // The solution must pass the very verifier that scores the model.
    const auto verdict = score_countdown("<answer>" + example.solution + "</answer>", example.problem);
    if (verdict.outcome != CountdownOutcome::kCorrect) {
      throw std::logic_error("generated CountDown solution \"" + example.solution + "\" fails verification: " +
                             countdown_outcome_name(verdict.outcome));
    }
    examples.push_back(std::move(example));
  }
  return examples;
}

}  // namespace deltarl
