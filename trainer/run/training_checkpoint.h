// Training checkpoints: everything a run needs to continue bit-exactly, in one
// folder per step under <run>/checkpoints/:
//
//   step-00000042/
//     config.json, model.safetensors   the policy, Hugging Face form (loads in transformers)
//     tokenizer.json                   the model's tokenizer, as read when the run started
//     optimizer.safetensors            AdamW moments (and fp32 masters), by parameter name
//     trainer_state.json               step, sampler cursor, policy version, seed, config
//
// A checkpoint is written into "step-N.partial" and renamed into place when
// complete, so a folder named step-N is always whole; then all but the newest
// `keep_last` are removed. All randomness in deltarl's training is counter-based
// (seed, step, group), so the state above is the full RNG state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "core/model/causal_lm.h"

namespace deltarl {

struct TrainerState {
  int64_t step = 0;               // optimizer steps completed
  uint64_t sampler_cursor = 0;    // prompts drawn so far (PromptSampler::cursor)
  uint64_t policy_version = 0;    // the version the workers serve after this step
  uint64_t seed = 0;
  int64_t optimizer_steps = 0;    // AdamW's update count
  std::string config_yaml;        // the run's config, for reference
};

// Writes the checkpoint of `state.step` under `checkpoints_folder` (created if
// needed) and returns its path. The model is saved in `dtype`;
// `optimizer_state` is AdamW's whole state by parameter name
// (AdamW::gather_state: the same at any world size and zero stage); `tokenizer_json`
// is the text of tokenizer.json (held in memory: the folder it came from may be
// an older checkpoint that pruning removes). Throws
// std::runtime_error / InputError naming the file on failure; an earlier
// checkpoint is never touched until the new one is complete.
std::string save_training_checkpoint(const std::string& checkpoints_folder, CausalLM& model,
                                     torch::ScalarType dtype, const std::string& tokenizer_json,
                                     const std::vector<std::pair<std::string, torch::Tensor>>& optimizer_state,
                                     const TrainerState& state, int64_t keep_last);

// `path` is a checkpoint folder (has trainer_state.json) or a folder holding
// step-N checkpoints (the newest complete one is chosen; a run folder works
// too through its checkpoints/). Throws InputError naming the path when none.
std::string find_checkpoint(const std::string& path);

// A resumed run continues from `step`: checkpoints of later steps (from the
// run that went past it) are renamed "step-N.abandoned-<unix time>", kept on
// disk but never chosen for resume nor pruned, so the run's checkpoints form one
// line of history. Returns the renamed folders.
std::vector<std::string> set_aside_checkpoints_after(const std::string& checkpoints_folder, int64_t step);

// Reads trainer_state.json; InputError naming the file and field when malformed.
TrainerState load_trainer_state(const std::string& checkpoint_folder);
// The optimizer tensors by name (CPU copies).
std::map<std::string, torch::Tensor> load_optimizer_tensors(const std::string& checkpoint_folder);

}  // namespace deltarl
