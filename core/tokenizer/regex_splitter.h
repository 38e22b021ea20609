// RegexSplitter: the pre-tokenizer's "Split" step with behavior "Isolated":
// every regex match is a piece, and so is any text between matches. PCRE2 in
// UTF + Unicode-property mode, JIT-compiled when available; it supports the
// lookahead the Qwen2/GPT-4-style patterns need. Thread-safe: each call uses
// its own match data.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace deltarl {

class RegexSplitter {
 public:
  // Throws InputError with PCRE2's message and offset if `pattern` is invalid.
  explicit RegexSplitter(const std::string& pattern);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // Pieces of valid UTF-8 `text`, in order; their concatenation is `text`.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace deltarl
