#include "core/tasks/math_verifier.h"

#include <algorithm>
#include <cctype>

namespace deltarl {

namespace {

std::string trim(std::string_view text) {
  const char* spaces = " \t\r\n";
  const size_t begin = text.find_first_not_of(spaces);
  if (begin == std::string_view::npos) return {};
  return std::string(text.substr(begin, text.find_last_not_of(spaces) - begin + 1));
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// Spaces, $, thin spaces and sizing commands carry no value.
std::string normalize(std::string_view text) {
  std::string out = trim(text);
  for (std::string_view noise : {"\\left", "\\right", "\\!", "\\,", "\\;", "\\ ", "$"}) replace_all(out, noise, "");
  replace_all(out, "\\dfrac", "\\frac");
  replace_all(out, "\\tfrac", "\\frac");
  out.erase(std::remove_if(out.begin(), out.end(), [](unsigned char c) { return std::isspace(c); }), out.end());
  while (out.size() >= 2 && out.front() == '{' && out.back() == '}') out = out.substr(1, out.size() - 2);
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// The balanced {…} group starting at text[open] == '{': its content, and `end` past it.
std::optional<std::string> brace_group(std::string_view text, size_t open, size_t* end) {
  if (open >= text.size() || text[open] != '{') return std::nullopt;
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    if (text[i] == '{') ++depth;
    if (text[i] == '}' && --depth == 0) {
      *end = i + 1;
      return std::string(text.substr(open + 1, i - open - 1));
    }
  }
  return std::nullopt;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// "1234", "1,234", "12.5", ".5" (no sign) as an exact rational.
std::optional<Rational> parse_unsigned_decimal(std::string_view text) {
  std::string digits;
  const size_t point = text.find('.');
  std::string_view whole = text.substr(0, point);
  const std::string_view fraction = point == std::string_view::npos ? std::string_view() : text.substr(point + 1);
  if (point != std::string_view::npos && !all_digits(fraction)) return std::nullopt;
  if (whole.find(',') != std::string_view::npos) {  // thousands separators: 1,234,567
    size_t start = 0;
    bool first = true;
    while (start <= whole.size()) {
      const size_t comma = whole.find(',', start);
      const std::string_view group = whole.substr(start, comma == std::string_view::npos ? whole.npos : comma - start);
      if (!all_digits(group) || (first ? group.size() > 3 : group.size() != 3)) return std::nullopt;
      digits += group;
      first = false;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  } else if (!whole.empty()) {
    if (!all_digits(whole)) return std::nullopt;
    digits = std::string(whole);
  } else if (fraction.empty()) {
    return std::nullopt;
  }
  digits += fraction;
  if (digits.empty() || digits.size() > 36) return std::nullopt;
  __int128 numerator = 0, denominator = 1;
  for (char d : digits) numerator = numerator * 10 + (d - '0');
  for (size_t i = 0; i < fraction.size(); ++i) denominator *= 10;
  return Rational::make(numerator, denominator);
}

std::optional<Rational> divide(const std::optional<Rational>& a, const std::optional<Rational>& b) {
  if (!a || !b) return std::nullopt;
  const ArithmeticResult result = apply('/', *a, *b);
  return result.ok() ? std::optional<Rational>(result.value) : std::nullopt;
}

}  // namespace

std::optional<Rational> parse_math_number(std::string_view raw) {
  std::string text = normalize(raw);
  bool negative = false;
  while (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative ^= text[0] == '-';
    text.erase(0, 1);
  }
  if (text.empty()) return std::nullopt;
  std::optional<Rational> value;
  if (text.rfind("\\frac", 0) == 0) {
    size_t end = 0, second_end = 0;
    auto top = brace_group(text, 5, &end);
    if (top) {
      auto bottom = brace_group(text, end, &second_end);
      if (!bottom || second_end != text.size()) return std::nullopt;
      value = divide(parse_math_number(*top), parse_math_number(*bottom));
    } else if (text.size() == 7 && std::isdigit(static_cast<unsigned char>(text[5])) &&
               std::isdigit(static_cast<unsigned char>(text[6]))) {  // \frac12
      value = divide(Rational(text[5] - '0'), Rational(text[6] - '0'));
    }
  } else if (const size_t slash = text.find('/'); slash != std::string::npos) {
    value = divide(parse_unsigned_decimal(text.substr(0, slash)), parse_unsigned_decimal(text.substr(slash + 1)));
  } else {
    value = parse_unsigned_decimal(text);
  }
  if (!value || !negative) return value;
  return Rational::make(-static_cast<__int128>(value->numerator()), value->denominator());
}

bool math_answers_equal(std::string_view answer, std::string_view ground_truth) {
  const auto a = parse_math_number(answer), b = parse_math_number(ground_truth);
  if (a && b) return *a == *b;
  if (a || b) return false;
  const std::string left = normalize(answer);
  return !left.empty() && left == normalize(ground_truth);
}

std::optional<std::string> extract_math_answer(std::string_view response) {
  for (std::string_view command : {"\\boxed", "\\fbox"}) {
    const size_t at = response.rfind(command);
    if (at == std::string_view::npos) continue;
    size_t open = at + command.size();
    while (open < response.size() && response[open] == ' ') ++open;
    size_t end = 0;
    if (auto content = brace_group(response, open, &end)) return trim(*content);
    if (open < response.size() && response[open] == '{') return std::nullopt;  // unbalanced braces
    // "\boxed 5": up to the next space or $.
    const size_t stop = response.find_first_of(" $\n", open);
    std::string bare = trim(response.substr(open, stop == std::string_view::npos ? response.npos : stop - open));
    if (!bare.empty()) return bare;
  }
  std::string lower(response);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string_view phrase = "the answer is";
  const size_t at = lower.rfind(phrase);
  if (at == std::string::npos) return std::nullopt;
  std::string_view rest = response.substr(at + phrase.size());
  rest = rest.substr(0, rest.find('\n'));
  std::string answer = trim(rest);
  while (!answer.empty() && (answer.front() == ':' || answer.front() == ' ')) answer.erase(0, 1);
  while (!answer.empty() && (answer.back() == '.' || answer.back() == ' ')) answer.pop_back();
  if (answer.empty()) return std::nullopt;
  return answer;
}

MathVerdict score_math(std::string_view response, std::string_view ground_truth) {
  MathVerdict verdict;
  auto answer = extract_math_answer(response);
  if (!answer) return verdict;
  verdict.found_answer = true;
  verdict.extracted = *answer;
  verdict.correct = math_answers_equal(*answer, ground_truth);
  verdict.reward = verdict.correct ? 1.0 : 0.0;
  return verdict;
}

}  // namespace deltarl
