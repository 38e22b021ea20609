// JsonlReader: reads JSON Lines (one JSON object per line) from a stream,
// keeping the source name and line number so every error can say where it is.
//
//   JsonlReader reader(stream, "samples.jsonl");
//   while (auto line = reader.next()) { use(line->value, reader.where()); }
//
// Blank lines are skipped. A line that is not valid JSON, or not an object,
// throws InputError naming "<source>:<line>".
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace deltarl {

// JSON objects keep their keys in file order, so rewritten lines read like the input.
using Json = nlohmann::ordered_json;

struct JsonlLine {
  int64_t line_number = 0;  // 1-based, as editors count.
  Json value;               // always an object; keys keep their order.
};

class JsonlReader {
 public:
  // `input` must outlive the reader. `source_name` is used in messages only.
  JsonlReader(std::istream& input, std::string source_name);

  // The next non-blank line, or nullopt at end of input.
  std::optional<JsonlLine> next();

  // "<source>:<line>" of the line last returned by next().
  std::string where() const;

 private:
  std::istream& input_;
  std::string source_name_;
  int64_t line_number_ = 0;
};

// Field accessors that throw InputError naming `where` and the field.
// required_number: the field must exist and be a JSON number.
double required_number(const Json& object, const char* field, const std::string& where);
// optional_number: nullopt when absent; throws when present but not a number.
std::optional<double> optional_number(const Json& object, const char* field,
                                      const std::string& where);
// required_integer: a JSON integer (or a number with no fractional part).
int64_t required_integer(const Json& object, const char* field, const std::string& where);

}  // namespace deltarl
