// The learners' copy of the rollout workers' shared token: from
// rollout.auth_token_file when set, else $DELTARL_ROLLOUT_TOKEN, else none.
// Never from the command line (it would show in `ps`).
#pragma once

#include <optional>
#include <string>

namespace deltarl {

// Throws InputError naming the file when it is set but unreadable or empty.
std::optional<std::string> read_rollout_auth_token(const std::string& token_file);

}  // namespace deltarl
