// VersionedPolicy: the weights a worker serves and their version. Generation
// takes a snapshot (model + version) for a whole batch, so every token of a
// sequence comes from one version; installing new weights swaps the pointer
// atomically and never touches a batch already running. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "core/model/causal_lm.h"

namespace deltarl {

class VersionedPolicy {
 public:
  struct Snapshot {
    std::shared_ptr<CausalLM> model;
    uint64_t version = 0;
  };

  VersionedPolicy(CausalLM model, uint64_t version);

  Snapshot snapshot() const;
  // Serves `model` from now on. Requires version > the current one.
  void install(CausalLM model, uint64_t version);
  uint64_t version() const;

  // The model the last install() retired, once no batch uses it any more
  // (nullptr otherwise): an upload fills it in place instead of building a new
  // module, so two models' memory is all a worker ever needs (double buffering).
  std::shared_ptr<CausalLM> take_retired();
  // Offers a spare model of the served architecture as if it had been retired,
  // so that even the first upload fills memory in place.
  void provide_standby(CausalLM model);
  // Gives back a model take_retired() handed out and an upload did not
  // install; kept as the spare unless a newer retired model took its place.
  void return_standby(std::shared_ptr<CausalLM> model);

 private:
  mutable std::mutex mutex_;
  Snapshot current_;
  std::shared_ptr<CausalLM> retired_;
};

}  // namespace deltarl
