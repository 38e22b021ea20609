// input_error_message(): runs `action` and returns the message of the InputError
// it throws, or "" when it throws none. Tests then check the message names the
// file, field or line: `EXPECT_NE(input_error_message(f).find("..."), npos)`.
#pragma once

#include <functional>
#include <string>

#include "core/input_error.h"

namespace deltarl::testing_support {

inline std::string input_error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

}  // namespace deltarl::testing_support
