#include "core/tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/input_error.h"
#include "core/json_input.h"
#include "core/tokenizer/unicode_text.h"

namespace deltarl {

namespace {

using nlohmann::json;

// Ids above this are a corrupt file: the largest released vocabularies hold
// ~256k tokens, and decode() keeps a table of one pointer per id.
constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;

// GPT-2's pattern, used by a ByteLevel pre-tokenizer with use_regex = true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

[[noreturn]] void unsupported(const std::string& source, const std::string& field, const json& value,
                              const std::string& why) {
  throw InputError(source + ": " + field + " = " + value.dump().substr(0, 200) + ": " + why);
}

// `parent` is a const char* (not a std::string) so that GCC 13 does not take the
// returned reference for one into a temporary (-Wdangling-reference).
const json& require(const json& object, const char* field, const std::string& source, const char* parent) {
  if (!object.is_object() || !object.contains(field)) {
    throw InputError(source + ": missing field \"" + parent + field + "\"");
  }
  return object.at(field);
}

// True for a JSON integer that is a token id deltarl accepts, [0, kMaxTokenId].
bool is_token_id(const json& value) {
  if (!value.is_number_integer()) return false;
  if (value.is_number_unsigned()) return value.get<uint64_t>() <= static_cast<uint64_t>(kMaxTokenId);
  return value.get<int64_t>() >= 0 && value.get<int64_t>() <= kMaxTokenId;
}

// The "type" of a JSON object, "" when it is not an object or has none.
std::string type_of(const json& object, const std::string& source) {
  return object.is_object() ? json_field<std::string>(object, "type", source).value_or("") : std::string();
}

// The regex of the pre-tokenizer, after checking it is one deltarl reproduces exactly.
std::string pre_tokenizer_pattern(const json& pre, const std::string& source) {
  const std::string where = source + ": pre_tokenizer";
  auto check_byte_level = [&](const json& step, bool regex_expected) {
    if (json_field<bool>(step, "add_prefix_space", where).value_or(false)) {
      unsupported(source, "pre_tokenizer.add_prefix_space", step["add_prefix_space"], "not supported");
    }
    if (json_field<bool>(step, "use_regex", where).value_or(true) != regex_expected) {
      unsupported(source, "pre_tokenizer.use_regex", !regex_expected,
                  regex_expected ? "expected true for a lone ByteLevel pre-tokenizer"
                                 : "expected false after a Split step");
    }
  };
  if (type_of(pre, where) == "ByteLevel") {
    check_byte_level(pre, true);
    return kGpt2Pattern;
  }
  if (type_of(pre, where) == "Sequence") {
    const json& steps = require(pre, "pretokenizers", source, "pre_tokenizer.");
    if (steps.is_array() && steps.size() == 2 && type_of(steps[0], where) == "Split" &&
        type_of(steps[1], where) == "ByteLevel") {
      const json& split = steps[0];
      if (json_field<std::string>(split, "behavior", where).value_or("") != "Isolated" ||
          json_field<bool>(split, "invert", where).value_or(false)) {
        unsupported(source, "pre_tokenizer.pretokenizers[0].behavior", split.value("behavior", json()),
                    "only \"Isolated\" without invert is supported");
      }
      const json& pattern = require(split, "pattern", source, "pre_tokenizer.pretokenizers[0].");
      if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string()) {
        unsupported(source, "pre_tokenizer.pretokenizers[0].pattern", pattern, "expected {\"Regex\": ...}");
      }
      check_byte_level(steps[1], false);
      return pattern["Regex"].get<std::string>();
    }
  }
  unsupported(source, "pre_tokenizer", pre,
              "deltarl reads byte-level BPE tokenizers: ByteLevel, or Sequence[Split(Regex), ByteLevel]");
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw InputError("cannot open tokenizer file \"" + path + "\"");
  std::stringstream text;
  text << file.rdbuf();
  return from_json_text(text.str(), path);
}

Tokenizer Tokenizer::from_json_text(const std::string& text, const std::string& source) {
  const json root = parse_json_text<json>(text, source);
  Tokenizer tokenizer;
  const json& model = require(root, "model", source, "");
  if (!model.is_object()) unsupported(source, "model", model, "expected an object");
  if (type_of(model, source + ": model") != "BPE") {
    unsupported(source, "model.type", model.value("type", json()), "deltarl reads byte-level BPE tokenizers");
  }
  if (model.contains("dropout") && !model["dropout"].is_null()) {
    unsupported(source, "model.dropout", model["dropout"], "BPE dropout is not supported");
  }
  if (model.contains("byte_fallback") && model["byte_fallback"] == true) {
    unsupported(source, "model.byte_fallback", true, "byte fallback is not supported");
  }
  auto non_empty_string = [&](const char* field) {
    return model.contains(field) && model[field].is_string() && !model[field].get<std::string>().empty();
  };
  if (non_empty_string("continuing_subword_prefix") || non_empty_string("end_of_word_suffix")) {
    unsupported(source, "model.continuing_subword_prefix", model.value("continuing_subword_prefix", json()),
                "subword prefixes and suffixes are not supported");
  }
  const bool ignore_merges = json_field<bool>(model, "ignore_merges", source + ": model").value_or(false);

  const json& vocab_json = require(model, "vocab", source, "model.");
  if (!vocab_json.is_object()) unsupported(source, "model.vocab", vocab_json.type_name(), "expected an object");
  std::unordered_map<std::string, int32_t> vocab;
  vocab.reserve(vocab_json.size());
  int32_t largest_id = -1;
  for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
    if (!is_token_id(it.value())) {
      unsupported(source, "model.vocab[\"" + it.key() + "\"]", it.value(),
                  "ids must be integers in [0, " + std::to_string(kMaxTokenId) + "]");
    }
    const auto id = it.value().get<int32_t>();
    vocab.emplace(it.key(), id);
    largest_id = std::max(largest_id, id);
  }

  const json& merges_json = require(model, "merges", source, "model.");
  if (!merges_json.is_array()) unsupported(source, "model.merges", merges_json.type_name(), "expected a list");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merges_json.size());
  for (size_t i = 0; i < merges_json.size(); ++i) {
    const json& merge = merges_json[i];
    if (merge.is_string()) {  // "left right"
      const std::string pair = merge.get<std::string>();
      const auto space = pair.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == pair.size()) {
        unsupported(source, "model.merges[" + std::to_string(i) + "]", merge, "expected \"left right\"");
      }
      merges.emplace_back(pair.substr(0, space), pair.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      unsupported(source, "model.merges[" + std::to_string(i) + "]", merge,
                  "expected \"left right\" or [\"left\", \"right\"]");
    }
  }

  const json normalizer = root.value("normalizer", json());
  if (type_of(normalizer, source + ": normalizer") == "NFC") {
    tokenizer.normalize_nfc_ = true;
  } else if (!normalizer.is_null()) {
    unsupported(source, "normalizer", normalizer, "only NFC (or none) is supported");
  }
  tokenizer.splitter_ = std::make_shared<RegexSplitter>(
      pre_tokenizer_pattern(require(root, "pre_tokenizer", source, ""), source));
  const json decoder = root.value("decoder", json());
  if (!decoder.is_null() && type_of(decoder, source + ": decoder") != "ByteLevel") {
    unsupported(source, "decoder", decoder, "expected a ByteLevel decoder");
  }

  for (const json& added : root.value("added_tokens", json::array())) {
    if (!added.is_object() || !added.contains("id") || !added.contains("content") ||
        !added["id"].is_number_integer() || !added["content"].is_string() || added["content"].get<std::string>().empty()) {
      unsupported(source, "added_tokens[]", added, "each needs an integer \"id\" and a non-empty \"content\"");
    }
    if (!is_token_id(added["id"])) {
      unsupported(source, "added_tokens[].id", added["id"], "ids must be integers in [0, " + std::to_string(kMaxTokenId) + "]");
    }
    const std::string added_where = source + ": added_tokens[]";
    for (const char* flag : {"single_word", "lstrip", "rstrip"}) {
      if (json_field<bool>(added, flag, added_where).value_or(false)) {
        unsupported(source, std::string("added_tokens[].") + flag, added, "not supported");
      }
    }
    AddedToken token{added["id"].get<int32_t>(), added["content"].get<std::string>(),
                     json_field<bool>(added, "special", added_where).value_or(false)};
    require_valid_utf8(token.content, (source + ": added_tokens[].content").c_str());
    largest_id = std::max(largest_id, token.id);
    tokenizer.added_token_index_[token.id] = tokenizer.added_tokens_.size();
    tokenizer.added_tokens_.push_back(std::move(token));
  }

  tokenizer.vocab_size_ = largest_id + 1;
  auto bpe = std::make_shared<BpeModel>(std::move(vocab), merges, source, ignore_merges);
  tokenizer.id_to_token_.assign(static_cast<size_t>(tokenizer.vocab_size_), nullptr);
  for (const auto& [token, id] : bpe->vocab()) tokenizer.id_to_token_[static_cast<size_t>(id)] = &token;
  tokenizer.model_ = std::move(bpe);
  return tokenizer;
}

void Tokenizer::append_text_ids(std::string_view text, std::vector<int32_t>& ids) const {
  if (text.empty()) return;
  const std::string normalized = normalize_nfc_ ? nfc_normalize(text) : std::string(text);
  for (std::string_view piece : splitter_->split(normalized)) model_->encode_piece(piece, ids);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool split_special_tokens) const {
  require_valid_utf8(text, "text to tokenize");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  size_t position = 0;
  while (position < text.size()) {
    // The leftmost added token, the longest one where several start there.
    size_t best_start = std::string_view::npos;
    const AddedToken* best = nullptr;
    if (split_special_tokens) {
      for (const auto& token : added_tokens_) {
        const size_t found = text.find(token.content, position);
        if (found == std::string_view::npos) continue;
        if (found < best_start || (found == best_start && token.content.size() > best->content.size())) {
          best_start = found;
          best = &token;
        }
      }
    }
    if (best == nullptr) {
      append_text_ids(text.substr(position), ids);
      break;
    }
    append_text_ids(text.substr(position, best_start - position), ids);
    ids.push_back(best->id);
    position = best_start + best->content.size();
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string text, symbols;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size_) {
      throw InputError("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                       std::to_string(vocab_size_) + ")");
    }
    auto added = added_token_index_.find(id);
    if (added != added_token_index_.end()) {
      const AddedToken& token = added_tokens_[added->second];
      if (token.special && skip_special_tokens) continue;
      text += model_->alphabet().to_bytes(symbols);
      symbols.clear();
      text += token.content;
      continue;
    }
    const std::string* token = id_to_token_[static_cast<size_t>(id)];
    if (token == nullptr) throw InputError("token id " + std::to_string(id) + " has no vocabulary entry");
    symbols += *token;
  }
  return text + model_->alphabet().to_bytes(symbols);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const auto& added : added_tokens_) {
    if (added.content == token) return added.id;
  }
  auto it = model_->vocab().find(std::string(token));
  if (it == model_->vocab().end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::has_text(int64_t id) const {
  if (id < 0 || id >= vocab_size_) return false;
  return id_to_token_[static_cast<size_t>(id)] != nullptr ||
         added_token_index_.count(static_cast<int32_t>(id)) != 0;
}

bool Tokenizer::is_special(int32_t id) const {
  auto it = added_token_index_.find(id);
  return it != added_token_index_.end() && added_tokens_[it->second].special;
}

}  // namespace deltarl
