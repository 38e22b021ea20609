// Logging for deltarl processes: one line per message on stderr, "deltarl: LEVEL:
// message" (with "[rank N]" once set_log_rank is called). Backed by spdlog in its
// own library target, compiled without LibTorch's include paths: the fmt that a
// LibTorch 2.x wheel bundles would otherwise shadow the one spdlog was built for.
#pragma once

#include <string>

namespace deltarl {

void log_info(const std::string& message);
void log_warning(const std::string& message);
void log_error(const std::string& message);

// Tags every later line with the learner rank.
void set_log_rank(int rank);

}  // namespace deltarl
