#include "core/jsonl_reader.h"

#include <cmath>
#include <utility>

#include "core/input_error.h"
#include "core/json_input.h"

namespace deltarl {

JsonlReader::JsonlReader(std::istream& input, std::string source_name)
    : input_(input), source_name_(std::move(source_name)) {}

std::string JsonlReader::where() const {
  return source_name_ + ":" + std::to_string(line_number_);
}

std::optional<JsonlLine> JsonlReader::next() {
  std::string text;
  while (std::getline(input_, text)) {
    ++line_number_;
    if (!text.empty() && text.back() == '\r') text.pop_back();  // CRLF files.
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    JsonlLine line;
    line.line_number = line_number_;
    try {
      line.value = parse_json_text<Json>(text, where());
    } catch (const InputError& error) {
      throw InputError(std::string(error.what()) + "; each line must hold one JSON object");
    }
    if (!line.value.is_object()) {
      throw InputError(where() + ": expected a JSON object, got " +
                       std::string(line.value.type_name()));
    }
    return line;
  }
  if (input_.bad()) throw InputError(source_name_ + ": read error after line " +
                                     std::to_string(line_number_));
  return std::nullopt;
}

std::optional<double> optional_number(const Json& object, const char* field,
                                      const std::string& where) {
  auto it = object.find(field);
  if (it == object.end()) return std::nullopt;
  if (!it->is_number()) {
    throw InputError(where + ": field \"" + field + "\" must be a number, got " +
                     std::string(it->type_name()) + " " + it->dump());
  }
  return it->get<double>();
}

double required_number(const Json& object, const char* field, const std::string& where) {
  auto value = optional_number(object, field, where);
  if (!value) throw InputError(where + ": missing field \"" + field + "\"");
  return *value;
}

int64_t required_integer(const Json& object, const char* field, const std::string& where) {
  const double value = required_number(object, field, where);
  if (!std::isfinite(value) || std::floor(value) != value || std::fabs(value) > 9.0e15) {
    throw InputError(where + ": field \"" + field + "\" must be an integer, got " +
                     object.at(field).dump());
  }
  return static_cast<int64_t>(value);
}

}  // namespace deltarl
