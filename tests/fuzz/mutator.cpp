#include "tests/fuzz/mutator.h"

#include <algorithm>
#include <cctype>

namespace deltarl::fuzz {

namespace {

size_t below(Rng& rng, size_t bound) {  // uniform in [0, bound); bound > 0
  return std::uniform_int_distribution<size_t>(0, bound - 1)(rng);
}

bool one_in(Rng& rng, size_t n) { return below(rng, n) == 0; }

// Texts that break parsers where a string goes: invalid UTF-8 (a lone
// continuation byte, a truncated sequence, an overlong '/', a surrogate, a
// code point past U+10FFFF), escapes of NUL and lone surrogates, control bytes.
const std::vector<std::string>& odd_strings() {
  static const std::vector<std::string> strings = {
      "", "\x80", "\xff\xfe", "\xc3", "\xc3\x28", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
      "\\u0000", "\\ud800", "\\udfff\\ud800", "\\", "\x01\x02\x7f", "\r", "\t", " ", "\n", "%", "*a", "&a",
      "!!binary", "{", "[", "\"", "'", "~", "null", "-1", ".inf", "1e30828", "<|im_start|>", "../../etc/passwd",
      "/", "a/b", "\xe4\xb8\x96\xe7\x95\x8c"};
  return strings;
}

// Runs of characters a mutation can aim at: numbers and quoted strings.
std::vector<std::pair<size_t, size_t>> number_spans(const std::string& text) {
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t i = 0; i < text.size();) {
    const bool starts = std::isdigit(static_cast<unsigned char>(text[i])) ||
                        (text[i] == '-' && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1])));
    const bool inside_word = i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '_');
    if (!starts || inside_word) {
      ++i;
      continue;
    }
    size_t end = i + 1;
    while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.' ||
                                 text[end] == 'e' || text[end] == 'E' || text[end] == '+' || text[end] == '-')) {
      ++end;
    }
    spans.emplace_back(i, end);
    i = end;
  }
  return spans;
}

std::vector<std::pair<size_t, size_t>> string_spans(const std::string& text) {
  std::vector<std::pair<size_t, size_t>> spans;  // contents between the quotes
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '"') continue;
    size_t end = i + 1;
    while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
    if (end >= text.size()) break;
    spans.emplace_back(i + 1, end);
    i = end;
  }
  return spans;
}

}  // namespace

const std::vector<std::string>& extreme_numbers() {
  static const std::vector<std::string> numbers = {
      "1e30828", "-1e30828", "1e-30828", "1e308", "1.7976931348623157e309", "-1", "0", "-0", "1.5", "0.5", "-0.0",
      "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
      "18446744073709551615", "18446744073709551616", "340282366920938463463374607431768211456",
      "2147483647", "2147483648", "-2147483649", "4294967296", "4294967295", "65536", "1000000000000",
      "NaN", "nan", ".nan", "Infinity", "-Infinity", ".inf", "-.inf", "1e3", "0x10", "007", "1_000", "+1", "1e",
      "99999999999999999999999999999999999999999999999999999999999999999999999999999999"};
  return numbers;
}

Rng input_rng(uint64_t run_seed, int64_t index) {
  // SplitMix64 of (seed, index): neighbouring indices get unrelated streams.
  uint64_t z = run_seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(index) + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return Rng(z ^ (z >> 31));
}

Mutator::Mutator(std::vector<std::string> seeds, std::vector<std::string> dictionary, size_t max_input_bytes)
    : seeds_(std::move(seeds)), dictionary_(std::move(dictionary)), max_input_bytes_(max_input_bytes) {}

std::string Mutator::mutate_seed(Rng& rng) const { return mutate(seeds_[below(rng, seeds_.size())], rng); }

std::string Mutator::mutate(std::string input, Rng& rng) const {
  // Mostly one or two mutations: a valid input with one defect reaches deepest.
  const size_t count = 1 + (one_in(rng, 2) ? 0 : below(rng, 4));
  for (size_t i = 0; i < count; ++i) input = mutate_once(std::move(input), rng);
  if (input.size() > max_input_bytes_) input.resize(max_input_bytes_);
  return input;
}

std::string Mutator::mutate_once(std::string input, Rng& rng) const {
  const size_t size = input.size();
  auto position = [&] { return below(rng, size + 1); };
  switch (below(rng, 16)) {
    case 0:  // flip one bit
      if (size > 0) input[below(rng, size)] ^= static_cast<char>(1u << below(rng, 8));
      break;
    case 1: {  // set a byte to a structural or boundary value
      static const char kBytes[] = {'\0', '\xff', '\x7f', '\x80', '"', '{', '}', '[', ']', ',', ':', '\\', '\n',
                                    '-', '0', '9', 'e', ' ', '#', '&', '*', '!', '|', '>', '\''};
      if (size > 0) input[below(rng, size)] = kBytes[below(rng, sizeof(kBytes))];
      break;
    }
    case 2: {  // insert random bytes
      std::string bytes(1 + below(rng, 8), '\0');
      for (char& byte : bytes) byte = static_cast<char>(below(rng, 256));
      input.insert(position(), bytes);
      break;
    }
    case 3:  // delete a range
      if (size > 0) {
        const size_t begin = below(rng, size);
        input.erase(begin, 1 + below(rng, std::min<size_t>(size - begin, one_in(rng, 4) ? size : 16)));
      }
      break;
    case 4:  // duplicate a range somewhere else
      if (size > 0) {
        const size_t begin = below(rng, size);
        const std::string range = input.substr(begin, 1 + below(rng, std::min<size_t>(size - begin, 256)));
        input.insert(position(), range);
      }
      break;
    case 5:  // truncate
      input.resize(position());
      break;
    case 6: {  // splice: a prefix of this input and a suffix of a seed
      const std::string& other = seeds_[below(rng, seeds_.size())];
      input = input.substr(0, position()) + other.substr(below(rng, other.size() + 1));
      break;
    }
    case 7:
    case 8: {  // a number replaced with an extreme one
      const auto spans = number_spans(input);
      const std::string& number = extreme_numbers()[below(rng, extreme_numbers().size())];
      if (spans.empty()) {
        input.insert(position(), number);
      } else {
        const auto [begin, end] = spans[below(rng, spans.size())];
        input.replace(begin, end - begin, number);
      }
      break;
    }
    case 9: {  // a string's contents replaced with an odd text, or a huge one
      const auto spans = string_spans(input);
      std::string text = odd_strings()[below(rng, odd_strings().size())];
      if (one_in(rng, 6)) text = std::string(1 + below(rng, 70000), one_in(rng, 2) ? 'A' : '\xe4');
      if (spans.empty()) {
        input.insert(position(), text);
      } else {
        const auto [begin, end] = spans[below(rng, spans.size())];
        input.replace(begin, end - begin, text);
      }
      break;
    }
    case 10: {  // deep nesting
      static const char* kOpeners[] = {"[", "{\"a\":", "- ", "[{\"k\":"};
      static const size_t kDepths[] = {64, 600, 5000, 100000};
      const std::string opener = kOpeners[below(rng, 4)];
      const size_t depth = kDepths[below(rng, 4)];
      std::string nest;
      nest.reserve(opener.size() * depth);
      for (size_t i = 0; i < depth; ++i) nest += opener;
      if (one_in(rng, 2) && opener == "[") nest += std::string(depth, ']');
      input.insert(position(), nest);
      break;
    }
    case 11:
    case 12:  // a dictionary token inserted, or replacing a range
      if (!dictionary_.empty()) {
        const std::string& token = dictionary_[below(rng, dictionary_.size())];
        const size_t at = position();
        if (one_in(rng, 2) && at < size) input.erase(at, 1 + below(rng, std::min<size_t>(size - at, 12)));
        input.insert(at, token);
      }
      break;
    case 14:
    case 15: {  // a value (number or quoted string) replaced with one of another type, or nested deep
      static const char* kValues[] = {"{}", "[]", "\"x\"", "true", "false", "null", "[1]", "{\"a\":1}", "0", "\"\"",
                                      "[[]]", "{\"\":null}"};
      auto spans = number_spans(input);
      for (auto [begin, end] : string_spans(input)) spans.emplace_back(begin - 1, end + 1);  // with the quotes
      if (spans.empty()) break;
      const auto [begin, end] = spans[below(rng, spans.size())];
      std::string value = kValues[below(rng, sizeof(kValues) / sizeof(kValues[0]))];
      if (one_in(rng, 4)) {  // a balanced nest: valid JSON, deeper than anything real
        const size_t depth = std::vector<size_t>{100, 5000, 200000}[below(rng, 3)];
        value = std::string(depth, '[') + std::string(depth, ']');
      }
      input.replace(begin, end - begin, value);
      break;
    }
    default: {  // an odd text inserted anywhere
      input.insert(position(), odd_strings()[below(rng, odd_strings().size())]);
      break;
    }
  }
  return input;
}

}  // namespace deltarl::fuzz
