// Tokenizer: a Hugging Face `tokenizer.json` byte-level BPE tokenizer (the
// Qwen2/Qwen2.5/Qwen3 family and GPT-2-style ones), producing the same ids as
// the `tokenizers` library:
//   1. added tokens (e.g. <|im_start|>) are split out of the raw text, leftmost
//      and longest first;
//   2. the rest is NFC-normalized (when the normalizer says so);
//   3. split by the pre-tokenizer regex (Split "Isolated", or ByteLevel's own);
//   4. each piece goes through BpeModel.
// decode() inverts it: decode(encode(x)) == NFC(x).
//
//   Tokenizer tokenizer = Tokenizer::from_file("tokenizer.json");
//   std::vector<int32_t> ids = tokenizer.encode("Hello<|im_end|>");
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/regex_splitter.h"

namespace deltarl {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
};

class Tokenizer {
 public:
  // Reads and validates a tokenizer.json. Throws InputError naming the file and
  // the field for anything missing, malformed or unsupported (another model
  // type, a normalizer other than NFC, byte fallback, dropout, ...).
  static Tokenizer from_file(const std::string& path);
  // The same from JSON text; `source` names it in messages.
  static Tokenizer from_json_text(const std::string& text, const std::string& source);

  // Ids of `text`, which must be valid UTF-8 (else InputError with the byte
  // offset). With `split_special_tokens` false, added tokens in the text are
  // tokenized as plain text.
  std::vector<int32_t> encode(std::string_view text, bool split_special_tokens = true) const;

  // Text of `ids`. Added tokens are written as their content, or dropped when
  // special and `skip_special_tokens`. The bytes of a character split across the
  // end of `ids` are returned as they are (incomplete UTF-8), so streaming
  // callers can join chunks. Throws InputError for an id outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // One past the largest id (vocabulary and added tokens).
  int32_t vocab_size() const { return vocab_size_; }
  // True when decode() has text for `id`: in [0, vocab_size()) and not a hole
  // between the vocabulary's and the added tokens' ids.
  bool has_text(int64_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  bool is_special(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_tokens_; }

 private:
  Tokenizer() = default;
  void append_text_ids(std::string_view text, std::vector<int32_t>& ids) const;

  std::shared_ptr<const BpeModel> model_;
  std::shared_ptr<const RegexSplitter> splitter_;
  bool normalize_nfc_ = false;
  std::vector<AddedToken> added_tokens_;
  std::unordered_map<int32_t, size_t> added_token_index_;  // id → index in added_tokens_
  std::vector<const std::string*> id_to_token_;            // vocabulary strings, by id
  int32_t vocab_size_ = 0;
};

}  // namespace deltarl
