#include "trainer/rollout_auth_token.h"

#include <cstdlib>
#include <fstream>

#include "core/input_error.h"

namespace deltarl {

std::optional<std::string> read_rollout_auth_token(const std::string& token_file, const std::string& setting) {
  if (!token_file.empty()) {
    std::ifstream file(token_file);
    if (!file) throw InputError(setting + " \"" + token_file + "\" cannot be read");
    std::string token;
    std::getline(file, token);
    if (token.empty()) throw InputError(setting + " \"" + token_file + "\" is empty");
    return token;
  }
  if (const char* token = std::getenv("DELTARL_ROLLOUT_TOKEN"); token != nullptr && *token != '\0') {
    return std::string(token);
  }
  return std::nullopt;
}

}  // namespace deltarl
