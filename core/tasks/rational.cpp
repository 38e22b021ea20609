#include "core/tasks/rational.h"

#include <limits>

namespace deltarl {

namespace {

__int128 gcd(__int128 a, __int128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b != 0) {
    const __int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

bool fits(__int128 value) {
  return value >= std::numeric_limits<int64_t>::min() && value <= std::numeric_limits<int64_t>::max();
}

}  // namespace

std::optional<Rational> Rational::make(__int128 numerator, __int128 denominator) {
  if (denominator == 0) return std::nullopt;
  if (denominator < 0) {
    numerator = -numerator;
    denominator = -denominator;
  }
  const __int128 divisor = gcd(numerator, denominator);
  if (divisor > 1) {
    numerator /= divisor;
    denominator /= divisor;
  }
  if (!fits(numerator) || !fits(denominator)) return std::nullopt;
  Rational result;
  result.numerator_ = static_cast<int64_t>(numerator);
  result.denominator_ = static_cast<int64_t>(denominator);
  return result;
}

std::string Rational::to_string() const {
  return is_integer() ? std::to_string(numerator_) : std::to_string(numerator_) + "/" + std::to_string(denominator_);
}

ArithmeticResult apply(char operation, const Rational& left, const Rational& right) {
  // Products of two int64 fit in __int128; sums of two such products do too.
  const __int128 a = left.numerator(), b = left.denominator(), c = right.numerator(), d = right.denominator();
  std::optional<Rational> value;
  switch (operation) {
    case '+': value = Rational::make(a * d + c * b, b * d); break;
    case '-': value = Rational::make(a * d - c * b, b * d); break;
    case '*': value = Rational::make(a * c, b * d); break;
    case '/':
      if (c == 0) return {Rational(), ArithmeticError::kDivisionByZero};
      value = Rational::make(a * d, b * c);
      break;
    default: return {Rational(), ArithmeticError::kOverflow};
  }
  if (!value) return {Rational(), ArithmeticError::kOverflow};
  return {*value, ArithmeticError::kNone};
}

}  // namespace deltarl
