#include "core/tokenizer/byte_level_alphabet.h"

namespace deltarl {

namespace {

std::string utf8_of(uint32_t codepoint) {
  std::string out;
  if (codepoint < 0x80) {
    out += static_cast<char>(codepoint);
  } else {  // all symbols are below U+0800
    out += static_cast<char>(0xC0 | (codepoint >> 6));
    out += static_cast<char>(0x80 | (codepoint & 0x3F));
  }
  return out;
}

bool prints_as_itself(uint32_t byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

}  // namespace

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of_codepoint_.fill(-1);
  uint32_t next_extra = 256;
  for (uint32_t byte = 0; byte < 256; ++byte) {
    const uint32_t codepoint = prints_as_itself(byte) ? byte : next_extra++;
    symbols_[byte] = utf8_of(codepoint);
    byte_of_codepoint_[codepoint] = static_cast<int16_t>(byte);
  }
}

std::string ByteLevelAlphabet::to_bytes(std::string_view symbols) const {
  std::string bytes;
  bytes.reserve(symbols.size());
  for (size_t i = 0; i < symbols.size();) {
    const auto lead = static_cast<unsigned char>(symbols[i]);
    uint32_t codepoint = lead;
    size_t length = 1;
    if (lead >= 0xC0 && lead < 0xE0 && i + 1 < symbols.size()) {
      codepoint = ((lead & 0x1Fu) << 6) | (static_cast<unsigned char>(symbols[i + 1]) & 0x3Fu);
      length = 2;
    } else if (lead >= 0xE0) {
      length = lead >= 0xF0 ? 4 : 3;
      codepoint = 0xFFFFFFFF;  // outside the alphabet
    }
    if (codepoint < byte_of_codepoint_.size() && byte_of_codepoint_[codepoint] >= 0) {
      bytes += static_cast<char>(byte_of_codepoint_[codepoint]);
    } else {
      bytes.append(symbols.substr(i, length));
    }
    i += length;
  }
  return bytes;
}

}  // namespace deltarl
