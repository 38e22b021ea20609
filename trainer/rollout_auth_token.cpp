#include "trainer/rollout_auth_token.h"

#include <cstdlib>
#include <fstream>

#include "core/input_error.h"

namespace deltarl {

std::optional<std::string> read_rollout_auth_token(const std::string& token_file) {
  if (!token_file.empty()) {
    std::ifstream file(token_file);
    std::string token;
    if (!file || !std::getline(file, token) || token.empty()) {
      throw InputError("rollout.auth_token_file \"" + token_file + "\" cannot be read or is empty");
    }
    return token;
  }
  if (const char* token = std::getenv("DELTARL_ROLLOUT_TOKEN"); token != nullptr && *token != '\0') {
    return std::string(token);
  }
  return std::nullopt;
}

}  // namespace deltarl
