#include "core/tokenizer/bpe_model.h"

#include <queue>

#include "core/input_error.h"

namespace deltarl {

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   const std::string& source, bool ignore_merges)
    : vocab_(std::move(vocab)), ignore_merges_(ignore_merges) {
  for (int byte = 0; byte < 256; ++byte) {
    auto it = vocab_.find(alphabet_.symbol(static_cast<uint8_t>(byte)));
    if (it == vocab_.end()) {
      throw InputError(source + ": model.vocab lacks the byte-level symbol of byte " +
                       std::to_string(byte) + "; is this a byte-level BPE tokenizer?");
    }
    byte_symbol_ids_[byte] = it->second;
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    auto left_id = vocab_.find(left), right_id = vocab_.find(right), merged = vocab_.find(left + right);
    if (left_id == vocab_.end() || right_id == vocab_.end() || merged == vocab_.end()) {
      throw InputError(source + ": model.merges[" + std::to_string(rank) + "] (\"" + left + "\", \"" +
                       right + "\") uses or makes a token missing from model.vocab");
    }
    // A repeated pair keeps its first (lowest) rank, as Hugging Face does.
    merges_.emplace(pair_key(left_id->second, right_id->second),
                    Merge{static_cast<int32_t>(rank), merged->second});
  }
}

void BpeModel::merge_symbols(std::vector<int32_t>& symbols) const {
  struct Candidate {
    int32_t rank;
    int32_t left;  // index of the left symbol
    int32_t left_id, right_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : left > other.left;
    }
  };
  const int32_t count = static_cast<int32_t>(symbols.size());
  std::vector<int32_t> next(static_cast<size_t>(count)), previous(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; ++i) {
    next[i] = i + 1 < count ? i + 1 : -1;
    previous[i] = i - 1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int32_t left) {
    if (left < 0 || next[left] < 0) return;
    auto it = merges_.find(pair_key(symbols[left], symbols[next[left]]));
    if (it != merges_.end()) queue.push({it->second.rank, left, symbols[left], symbols[next[left]]});
  };
  for (int32_t i = 0; i + 1 < count; ++i) consider(i);
  std::vector<bool> alive(static_cast<size_t>(count), true);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const int32_t right = next[top.left];
    // Stale: one side was merged away or changed since this pair was queued.
    if (!alive[top.left] || right < 0 || symbols[top.left] != top.left_id || symbols[right] != top.right_id) {
      continue;
    }
    symbols[top.left] = merges_.at(pair_key(top.left_id, top.right_id)).merged_id;
    alive[right] = false;
    next[top.left] = next[right];
    if (next[right] >= 0) previous[next[right]] = top.left;
    consider(previous[top.left]);
    consider(top.left);
  }
  size_t kept = 0;
  for (int32_t i = 0; i >= 0 && i < count; i = next[i]) symbols[kept++] = symbols[i];
  symbols.resize(kept);
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>& ids) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(std::string(piece));
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> symbols;
  if (ignore_merges_) {
    std::string mapped;
    for (char byte : piece) mapped += alphabet_.symbol(static_cast<uint8_t>(byte));
    if (auto whole = vocab_.find(mapped); whole != vocab_.end()) symbols.push_back(whole->second);
  }
  if (symbols.empty()) {
    symbols.reserve(piece.size());
    for (char byte : piece) symbols.push_back(byte_symbol_ids_[static_cast<uint8_t>(byte)]);
    merge_symbols(symbols);
  }
  ids.insert(ids.end(), symbols.begin(), symbols.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kMaxCachedPieces) cache_.clear();
  cache_.emplace(std::string(piece), std::move(symbols));
}

}  // namespace deltarl
