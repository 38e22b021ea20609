#include "trainer/rollout/rollout_auth_token.h"

#include <cstdlib>
#include <fstream>

#include <grpcpp/client_context.h>

#include "core/input_error.h"

namespace deltarl {

namespace {

// The token travels as gRPC metadata ("authorization: Bearer <token>"), whose
// values gRPC only sends when printable ASCII; a control byte or UTF-8 there
// fails every call. Spaces are refused too: they would be trimmed or compared
// differently on either side.
std::string checked_token(std::string token, const std::string& where) {
  if (!token.empty() && token.back() == '\r') token.pop_back();  // a file saved with CRLF line ends
  if (token.empty()) throw InputError(where + " is empty");
  for (size_t i = 0; i < token.size(); ++i) {
    const auto byte = static_cast<unsigned char>(token[i]);
    if (byte <= 0x20 || byte >= 0x7f) {
      static const char* kHex = "0123456789abcdef";
      throw InputError(where + " holds byte 0x" + std::string{kHex[byte >> 4], kHex[byte & 15]} + " at offset " +
                       std::to_string(i) + ": a token is printable ASCII without spaces (e.g. hex digits)");
    }
  }
  return token;
}

}  // namespace

std::optional<std::string> read_rollout_auth_token(const std::string& token_file, const std::string& setting) {
  if (!token_file.empty()) {
    std::ifstream file(token_file);
    if (!file) throw InputError(setting + " \"" + token_file + "\" cannot be read");
    std::string token;
    std::getline(file, token);
    return checked_token(std::move(token), setting + " \"" + token_file + "\"");
  }
  if (const char* token = std::getenv("DELTARL_ROLLOUT_TOKEN"); token != nullptr && *token != '\0') {
    return checked_token(token, "$DELTARL_ROLLOUT_TOKEN");
  }
  return std::nullopt;
}

void authorize_rollout_call(grpc::ClientContext& context, const std::optional<std::string>& token) {
  if (token) context.AddMetadata("authorization", "Bearer " + *token);
}

}  // namespace deltarl
