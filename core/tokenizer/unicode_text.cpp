#include "core/tokenizer/unicode_text.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "core/input_error.h"

namespace deltarl {

void require_valid_utf8(std::string_view text, const char* what) {
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t offset = 0;
  const auto size = static_cast<utf8proc_ssize_t>(text.size());
  while (offset < size) {
    utf8proc_int32_t codepoint = 0;
    const utf8proc_ssize_t length = utf8proc_iterate(bytes + offset, size - offset, &codepoint);
    if (length < 0) {
      throw InputError(std::string(what) + " is not valid UTF-8: bad byte 0x" +
                       [](unsigned byte) {
                         const char* hex = "0123456789abcdef";
                         return std::string{hex[byte >> 4], hex[byte & 15]};
                       }(static_cast<unsigned char>(text[static_cast<size_t>(offset)])) +
                       " at byte " + std::to_string(offset));
    }
    offset += length;
  }
}

std::string nfc_normalize(std::string_view text) {
  if (text.empty()) return std::string();
  // ASCII is already NFC; skipping utf8proc there keeps common text fast.
  bool ascii = true;
  for (char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);
  utf8proc_uint8_t* normalized = nullptr;
  const utf8proc_ssize_t length = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
      &normalized, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (length < 0) {
    throw InputError(std::string("text cannot be NFC-normalized: ") + utf8proc_errmsg(length));
  }
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(normalized, &std::free);
  return std::string(reinterpret_cast<const char*>(normalized), static_cast<size_t>(length));
}

}  // namespace deltarl
