// The byte-level BPE alphabet (GPT-2's bytes_to_unicode): each of the 256 byte
// values is shown as one printable Unicode character, so any byte string is a
// string of vocabulary symbols. Printable Latin-1 bytes map to themselves; the
// rest map, in order, to U+0100 onwards ("Ġ" is the space byte 0x20).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deltarl {

class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();

  // The UTF-8 encoding of byte b's symbol.
  const std::string& symbol(uint8_t byte) const { return symbols_[byte]; }

  // Maps a string of symbols back to bytes. Characters outside the alphabet are
  // copied through unchanged (as Hugging Face's ByteLevel decoder does).
  std::string to_bytes(std::string_view symbols) const;

 private:
  std::array<std::string, 256> symbols_;
  std::array<int16_t, 324> byte_of_codepoint_;  // codepoints < 324; -1 where none
};

}  // namespace deltarl
