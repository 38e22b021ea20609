// broadcast_string(): rank 0's text on every rank (a checkpoint's path, the
// rollout workers' addresses), over a CPU communicator.
#pragma once

#include <string>

#include "trainer/comm/communicator.h"

namespace deltarl {

// Returns rank 0's `text` on every rank; other ranks' `text` is ignored.
// Collective over `host`: two broadcasts (the length, then the bytes).
std::string broadcast_string(Communicator& host, const std::string& text);

}  // namespace deltarl
