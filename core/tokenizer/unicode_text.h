// UTF-8 validation and NFC normalization (utf8proc) for the tokenizer. Text
// that is not valid UTF-8 is rejected with the byte offset of the first bad
// byte, never silently repaired.
#pragma once

#include <string>
#include <string_view>

namespace deltarl {

// Throws InputError "invalid UTF-8 at byte N" naming `what` (e.g. "prompt").
void require_valid_utf8(std::string_view text, const char* what);

// Unicode Normalization Form C of valid UTF-8 text.
std::string nfc_normalize(std::string_view text);

}  // namespace deltarl
