#include "rollout_workers/versioned_policy.h"

#include <stdexcept>

namespace deltarl {

VersionedPolicy::VersionedPolicy(Qwen2ForCausalLM model, uint64_t version) {
  model->eval();
  current_ = {std::make_shared<Qwen2ForCausalLM>(std::move(model)), version};
}

VersionedPolicy::Snapshot VersionedPolicy::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

void VersionedPolicy::install(Qwen2ForCausalLM model, uint64_t version) {
  model->eval();
  auto next = std::make_shared<Qwen2ForCausalLM>(std::move(model));
  std::lock_guard<std::mutex> lock(mutex_);
  if (version <= current_.version) {
    throw std::invalid_argument("policy version " + std::to_string(version) + " is not newer than " +
                                std::to_string(current_.version));
  }
  current_ = {std::move(next), version};
}

uint64_t VersionedPolicy::version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_.version;
}

}  // namespace deltarl
