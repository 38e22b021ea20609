// InputError: thrown for bad user input (a config value, a file, a JSONL line)
// inside deltarl. The message must name the file, line or field and a likely
// cause; process and RPC boundaries turn it into Status(kInvalidArgument).
#pragma once

#include <stdexcept>
#include <string>

namespace deltarl {

class InputError : public std::invalid_argument {
 public:
  explicit InputError(const std::string& message) : std::invalid_argument(message) {}
};

}  // namespace deltarl
