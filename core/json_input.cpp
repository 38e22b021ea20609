#include "core/json_input.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/input_error.h"

namespace deltarl {

namespace {

// What an nlohmann exception thrown while parsing most likely means.
std::string parse_failure(const nlohmann::json::exception& error) {
  const std::string text = error.what();
  if (text.find("number overflow") != std::string::npos) {
    return "not valid JSON: a number is too large for a double (" + text + ")";
  }
  return "not valid JSON (" + text + ")";
}

}  // namespace

template <typename JsonType>
JsonType parse_json_text(std::string_view text, const std::string& source, const std::string& subject) {
  const std::string where = subject.empty() ? source + ": " : source + ": " + subject + " is ";
  bool too_deep = false;
  // Returning false at the limit discards the value; the flag turns that into an error.
  auto depth_guard = [&too_deep](int depth, typename JsonType::parse_event_t, JsonType&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  JsonType value;
  try {
    value = JsonType::parse(text.begin(), text.end(), depth_guard);
  } catch (const nlohmann::json::exception& error) {
    if (!too_deep) throw InputError(where + parse_failure(error));
  }
  if (too_deep) {
    throw InputError(source + ": " + (subject.empty() ? std::string("JSON") : subject) + " nests deeper than " +
                     std::to_string(kMaxJsonDepth) + " levels (no file deltarl reads does; a corrupt file?)");
  }
  return value;
}

template <typename JsonType>
JsonType parse_json_file(const std::string& path, const std::string& what) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw InputError("cannot open " + what + " \"" + path + "\"");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw InputError("cannot read " + what + " \"" + path + "\"");
  return parse_json_text<JsonType>(text.str(), path);
}

template <typename T, typename JsonType>
std::optional<T> json_field(const JsonType& object, const char* field, const std::string& source) {
  if (!object.is_object()) throw InputError(source + ": expected a JSON object, got " + object.type_name());
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return std::nullopt;
  auto wrong = [&](const char* expected) {
    return InputError(source + ": field \"" + field + "\" must be " + expected + ", got " +
                      it->dump().substr(0, 200));
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) throw wrong("true or false");
    return it->template get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) throw wrong("a string");
    return it->template get<std::string>();
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (it->is_number_unsigned() && it->template get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      throw wrong("an integer below 2^63");
    }
    if (!it->is_number_integer()) throw wrong("an integer");
    return it->template get<int64_t>();
  } else {
    static_assert(std::is_same_v<T, double>, "json_field reads bool, std::string, int64_t or double");
    if (!it->is_number() || !std::isfinite(it->template get<double>())) throw wrong("a finite number");
    return it->template get<double>();
  }
}

template nlohmann::json parse_json_text<nlohmann::json>(std::string_view, const std::string&, const std::string&);
template nlohmann::ordered_json parse_json_text<nlohmann::ordered_json>(std::string_view, const std::string&,
                                                                        const std::string&);
template nlohmann::json parse_json_file<nlohmann::json>(const std::string&, const std::string&);
template nlohmann::ordered_json parse_json_file<nlohmann::ordered_json>(const std::string&, const std::string&);
#define DELTARL_JSON_FIELD(T)                                                                              \
  template std::optional<T> json_field<T, nlohmann::json>(const nlohmann::json&, const char*,              \
                                                          const std::string&);                             \
  template std::optional<T> json_field<T, nlohmann::ordered_json>(const nlohmann::ordered_json&, const char*, \
                                                                  const std::string&);
DELTARL_JSON_FIELD(bool)
DELTARL_JSON_FIELD(std::string)
DELTARL_JSON_FIELD(int64_t)
DELTARL_JSON_FIELD(double)
#undef DELTARL_JSON_FIELD

}  // namespace deltarl
