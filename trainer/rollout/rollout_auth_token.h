// The rollout workers' shared token, as workers and learners both read it:
// from a file when one is named, else $DELTARL_ROLLOUT_TOKEN, else none. Never
// from the command line (it would show in `ps`). And the one place a learner
// attaches it to a call: authorize_rollout_call().
#pragma once

#include <optional>
#include <string>

namespace grpc {
class ClientContext;
}

namespace deltarl {

// `setting` names where the file came from in errors ("--token-file",
// "rollout.auth_token_file"). The token is the file's first line (a trailing
// CR dropped). Throws InputError naming it and the file when the file is set
// but unreadable or empty, and naming the file or $DELTARL_ROLLOUT_TOKEN when
// the token holds anything but printable ASCII without spaces (gRPC could not
// send it as metadata).
std::optional<std::string> read_rollout_auth_token(const std::string& token_file,
                                                   const std::string& setting = "rollout.auth_token_file");

// Adds "authorization: Bearer <token>" to a call to a rollout worker, as the
// worker requires when it has a token (rollout_workers/rollout_service.cpp
// checks it); nothing when `token` is empty. Every learner-side call goes
// through here.
void authorize_rollout_call(grpc::ClientContext& context, const std::optional<std::string>& token);

}  // namespace deltarl
