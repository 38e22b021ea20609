// BpeModel: byte-level BPE over a vocabulary and a ranked merge list, as in
// Hugging Face `tokenizers`' BPE model (no dropout, no byte fallback, no
// continuing-subword prefix). encode_piece() turns one pre-tokenized piece into
// ids by repeatedly merging the adjacent pair of lowest rank, leftmost first;
// with ignore_merges (Llama 3's tokenizer), a piece that is itself in the
// vocabulary is that one token, whatever the merges would make of it.
// Results are cached per piece; safe to call from several threads.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tokenizer/byte_level_alphabet.h"

namespace deltarl {

class BpeModel {
 public:
  // `merges` in rank order. Throws InputError naming `source` when a byte's
  // symbol is missing from the vocabulary, or a merge (by index) names a token
  // that is not in it, or produces one that is not.
  BpeModel(std::unordered_map<std::string, int32_t> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, const std::string& source,
           bool ignore_merges = false);

  // Appends the ids of `piece` (raw UTF-8 bytes, before the byte-level mapping).
  void encode_piece(std::string_view piece, std::vector<int32_t>& ids) const;

  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }
  const ByteLevelAlphabet& alphabet() const { return alphabet_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  void merge_symbols(std::vector<int32_t>& symbols) const;

  ByteLevelAlphabet alphabet_;
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  bool ignore_merges_;
  int32_t byte_symbol_ids_[256];

  static constexpr size_t kMaxCachedPieces = 1 << 18;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace deltarl
