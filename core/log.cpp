#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace deltarl {

namespace {

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto created = spdlog::stderr_color_mt("deltarl");
    created->set_pattern("deltarl: %^%l%$: %v");
    return created;
  }();
  return *instance;
}

}  // namespace

void log_info(const std::string& message) { logger().info(message); }
void log_warning(const std::string& message) { logger().warn(message); }
void log_error(const std::string& message) { logger().error(message); }

void set_log_rank(int rank) { logger().set_pattern("deltarl [rank " + std::to_string(rank) + "]: %^%l%$: %v"); }

}  // namespace deltarl
