// The math-answer verifier: the response's final answer is the content of its
// LAST \boxed{…} (nested braces allowed; \fbox too), or else what follows the
// last "the answer is" on that line. It is correct when it equals the ground
// truth exactly as a number (integers, decimals, fractions a/b, \frac / \dfrac /
// \tfrac, signs, thousands separators like 1,234: compared as exact rationals,
// so 0.5 = 1/2 = \frac{1}{2}, but 0.33 ≠ 1/3), or otherwise as text after
// removing spaces, $ signs and \left / \right.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/tasks/rational.h"

namespace deltarl {

struct MathVerdict {
  bool correct = false;
  double reward = 0;            // 1 when correct, else 0
  std::string extracted;        // the final answer found ("" when none)
  bool found_answer = false;
};

MathVerdict score_math(std::string_view response, std::string_view ground_truth);

// The final answer of a response, as described above.
std::optional<std::string> extract_math_answer(std::string_view response);

// The exact value of a numeric answer ("-1,234.5", "\frac{3}{4}", "7/2"), if it is one.
std::optional<Rational> parse_math_number(std::string_view text);

bool math_answers_equal(std::string_view answer, std::string_view ground_truth);

}  // namespace deltarl
