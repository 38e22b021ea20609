// Rational: exact fractions of 64-bit integers for the verifiers, so that
// 6/4*2 is exactly 3 and no floating-point tolerance decides a reward. Every
// operation reports overflow and division by zero instead of wrapping or
// crashing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace deltarl {

class Rational {
 public:
  Rational() = default;
  explicit Rational(int64_t integer) : numerator_(integer), denominator_(1) {}

  // numerator/denominator in lowest terms with a positive denominator; nullopt
  // when the denominator is 0 or a reduced part does not fit in int64.
  static std::optional<Rational> make(__int128 numerator, __int128 denominator);

  int64_t numerator() const { return numerator_; }
  int64_t denominator() const { return denominator_; }
  bool is_integer() const { return denominator_ == 1; }
  std::string to_string() const;  // "3", "-7/2"

  bool operator==(const Rational& other) const {
    return numerator_ == other.numerator_ && denominator_ == other.denominator_;
  }
  bool operator!=(const Rational& other) const { return !(*this == other); }

 private:
  int64_t numerator_ = 0;
  int64_t denominator_ = 1;
};

enum class ArithmeticError { kNone, kDivisionByZero, kOverflow };

struct ArithmeticResult {
  Rational value;
  ArithmeticError error = ArithmeticError::kNone;
  bool ok() const { return error == ArithmeticError::kNone; }
};

// `operation` is one of + - * /.
ArithmeticResult apply(char operation, const Rational& left, const Rational& right);

}  // namespace deltarl
