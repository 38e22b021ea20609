// Reading JSON that comes from outside deltarl (config.json, tokenizer.json, a
// safetensors header, a JSONL line, trainer_state.json, a task payload): parse
// it or throw InputError naming the source, never let nlohmann::json's own
// exceptions out. The one place for what every reader needs:
//   - any parse failure (syntax, invalid UTF-8, a number beyond double such as
//     1e30828, which nlohmann reports as out_of_range, not parse_error) is an
//     InputError naming `source` and the likely cause;
//   - nesting deeper than kMaxJsonDepth is refused while parsing, so later
//     recursive work (copy, dump, compare) cannot exhaust the stack.
//
//   nlohmann::json config = parse_json_file<nlohmann::json>("m/config.json", "model config");
//   Json line = parse_json_text<Json>(text, "data.jsonl:3");
//
// Field access stays with each reader (it knows the field's meaning); the
// json_field_* helpers below cover the common "optional field of one type".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace deltarl {

// Deep enough for every format deltarl reads (they nest 2-5 levels).
inline constexpr int kMaxJsonDepth = 64;

// `JsonType` is nlohmann::json or nlohmann::ordered_json. `source` names the
// file (or file:line) in messages, `subject` the part of it that holds the
// JSON when not all of it: "<source>: <subject> is not valid JSON (...)".
template <typename JsonType>
JsonType parse_json_text(std::string_view text, const std::string& source, const std::string& subject = "");

// Reads and parses a whole file; InputError naming `path` when it cannot be
// read. `what` says what the file is in that message ("model config").
template <typename JsonType>
JsonType parse_json_file(const std::string& path, const std::string& what);

// The value of `object[field]` when present and not null, as T; InputError
// naming `source` and the field when it has another type. T: bool,
// std::string, int64_t (a JSON integer that fits), double (any finite number).
template <typename T, typename JsonType>
std::optional<T> json_field(const JsonType& object, const char* field, const std::string& source);

}  // namespace deltarl
