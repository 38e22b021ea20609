#include "core/tokenizer/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/input_error.h"
#include "core/tokenizer/unicode_text.h"

namespace deltarl {

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(const std::string& pattern) : compiled_(std::make_unique<Compiled>()) {
  require_valid_utf8(pattern, "pre-tokenizer regex");  // PCRE2_NO_UTF_CHECK below relies on it
  int error = 0;
  PCRE2_SIZE offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
  if (compiled_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw InputError("pre-tokenizer regex does not compile at offset " + std::to_string(offset) + ": " +
                     reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

std::vector<std::string_view> RegexSplitter::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t position = 0;  // start of the text not yet in a piece
  size_t search = 0;    // where the next match may start
  while (search < text.size()) {
    // Text is validated UTF-8 by the caller: skip PCRE2's own check on every call.
    const int found = pcre2_match(compiled_->code, subject, text.size(), search, PCRE2_NO_UTF_CHECK,
                                  match.get(), nullptr);
    if (found == PCRE2_ERROR_NOMATCH) break;
    if (found < 0) {
      // A pattern that backtracks or recurses past PCRE2's limits on this text:
      // the tokenizer file's fault, not the text's.
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(found, message, sizeof(message));
      throw InputError("pre-tokenizer regex failed on a text of " + std::to_string(text.size()) + " bytes: " +
                       reinterpret_cast<const char*>(message) + " (error " + std::to_string(found) +
                       "); is the tokenizer's pattern one of Hugging Face's?");
    }
    const PCRE2_SIZE* bounds = pcre2_get_ovector_pointer(match.get());
    const size_t begin = bounds[0], end = bounds[1];
    if (end == begin) {  // an empty match: it joins the gap; look again one character on
      search = begin + 1;
      while (search < text.size() && (static_cast<unsigned char>(text[search]) & 0xC0) == 0x80) ++search;
      continue;
    }
    if (begin > position) pieces.push_back(text.substr(position, begin - position));
    pieces.push_back(text.substr(begin, end - begin));
    position = search = end;
  }
  if (position < text.size()) pieces.push_back(text.substr(position));
  return pieces;
}

}  // namespace deltarl
