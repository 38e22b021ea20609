#include "rollout_workers/versioned_policy.h"

#include <atomic>
#include <stdexcept>

namespace deltarl {

namespace {

// Inference mode and the inference forms built now, for a model about to
// serve: doing it in the engine thread would stall decoding. Uploads write
// past the version counters (Note [Inference form staleness]), so every
// installed model is prepared afresh; a spare is only fused (packs would be
// replaced before it serves).
void prepare_for_serving(CausalLM& model, LinearForm form) {
  model->eval();
  model->prepare_inference(form);
}

}  // namespace

VersionedPolicy::VersionedPolicy(CausalLM model, uint64_t version) {
  prepare_for_serving(model, LinearForm::kPacked);
  current_ = {std::make_shared<CausalLM>(std::move(model)), version};
}

VersionedPolicy::Snapshot VersionedPolicy::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

void VersionedPolicy::install(CausalLM model, uint64_t version) {
  prepare_for_serving(model, LinearForm::kPacked);
  auto next = std::make_shared<CausalLM>(std::move(model));
  std::lock_guard<std::mutex> lock(mutex_);
  if (version <= current_.version) {
    throw std::invalid_argument("policy version " + std::to_string(version) + " is not newer than " +
                                std::to_string(current_.version));
  }
  retired_ = std::move(current_.model);
  current_ = {std::move(next), version};
}

std::shared_ptr<CausalLM> VersionedPolicy::take_retired() {
  std::lock_guard<std::mutex> lock(mutex_);
  // Snapshots held by running batches share the pointer: only a sole owner may be overwritten.
  if (!retired_ || retired_.use_count() != 1) return nullptr;
  // use_count() is a relaxed read: order the last user's accesses before ours.
  std::atomic_thread_fence(std::memory_order_acquire);
  (*retired_)->prepare_inference(LinearForm::kTraining);  // frees the packs, stale once overwritten; install() prepares again
  return std::move(retired_);
}

void VersionedPolicy::provide_standby(CausalLM model) {
  prepare_for_serving(model, LinearForm::kFused);
  auto standby = std::make_shared<CausalLM>(std::move(model));
  std::lock_guard<std::mutex> lock(mutex_);
  retired_ = std::move(standby);
}

void VersionedPolicy::return_standby(std::shared_ptr<CausalLM> model) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!retired_) retired_ = std::move(model);
}

uint64_t VersionedPolicy::version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_.version;
}

}  // namespace deltarl
