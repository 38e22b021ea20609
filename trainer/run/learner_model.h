// LearnerModel: the policy a learner rank trains, with its frozen KL reference,
// its tokenizer text and its AdamW, loaded as `deltarl train` and
// `deltarl update` both need them: from a model folder or a checkpoint, in the
// config's dtype, on the learner's device, with the config's thread count.
//
//   LearnerModel learner = load_learner_model(config, {model_folder, checkpoint, optimizer_steps}, device_communicator, local_size);
//   PolicyUpdater updater(learner.model, learner.reference_or_null(), *learner.optimizer, options);
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/types.h>

#include "core/model/causal_lm.h"
#include "trainer/algorithm/adamw.h"
#include "trainer/comm/communicator.h"
#include "trainer/run/training_config.h"

namespace deltarl {

struct LearnerModel {
  torch::ScalarType dtype = torch::kFloat32;  // model.dtype: the weights, and the checkpoints'
  CausalLM model{nullptr};
  CausalLM reference{nullptr};        // null unless algorithm.kl_coef > 0
  std::string tokenizer_json;                 // tokenizer.json's text, for checkpoints
  std::unique_ptr<AdamW> optimizer;

  CausalLM* reference_or_null() { return reference ? &reference : nullptr; }
};

struct LearnerModelSource {
  std::string model_folder;       // the weights to start from (a checkpoint is a model folder too)
  std::string checkpoint_folder;  // "": a fresh optimizer; else its optimizer.safetensors
  int64_t optimizer_steps = 0;    // the checkpoint's TrainerState::optimizer_steps
};

// Sets LibTorch's threads (train.threads, else the host's CPUs over
// `local_size` ranks), loads the policy from source.model_folder (which must
// hold tokenizer.json), the reference from config.model.path when
// algorithm.kl_coef > 0 (frozen, in its fused inference form) and AdamW with
// the optim section, restoring the checkpoint's state when one is given;
// with train.zero_stage ≥ 1 that AdamW is sharded over `device`'s ranks
// (Note [ZeRO stages]) and takes its slice of the checkpoint's whole state.
// Throws InputError naming the folder or file. Not collective: callers run it
// inside agree_or_throw.
LearnerModel load_learner_model(const TrainingConfig& config, const LearnerModelSource& source,
                                const Communicator& device, int local_size);

}  // namespace deltarl
