// What tests of the learner side against real workers start from: a model
// folder a `deltarl rollout` worker can serve, and prompt groups to send it.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/preset_files.h"
#include "trainer/rollout/rollout_client.h"

namespace deltarl::testing_support {

// A new temporary folder (named after `prefix`) holding a tiny Qwen2 with
// weights from seed 11 and the CountDown tokenizer. The caller removes it.
inline std::string write_worker_model(const std::string& prefix) {
  const std::string folder = make_temporary_directory(prefix);
  torch::manual_seed(11);
  CausalLM model(ModelConfig::preset("tiny"));
  save_pretrained(model, folder);
  copy_file(countdown_tokenizer_path(), join_path(folder, "tokenizer.json"));
  return folder;
}

// `count` CountDown prompt groups with ids first_group_id, first_group_id + 1, ...
// and distinct token ids.
inline std::vector<PromptGroup> countdown_prompt_groups(int count, uint64_t first_group_id) {
  std::vector<PromptGroup> groups;
  for (int g = 0; g < count; ++g) {
    PromptGroup group;
    group.group_id = first_group_id + static_cast<uint64_t>(g);
    for (int id : {3, 40 + g, 41, 42, 43}) group.token_ids.push_back(id);
    group.task = "countdown";
    group.task_payload_json = R"({"numbers": [1, 2], "target": 3})";
    groups.push_back(group);
  }
  return groups;
}

// Sampling at temperature 1 with a fixed seed, up to `max_new_tokens`.
inline v1::SamplingParams seeded_sampling(int max_new_tokens) {
  v1::SamplingParams params;
  params.set_temperature(1.0);
  params.set_max_new_tokens(max_new_tokens);
  params.set_seed(3);
  return params;
}

}  // namespace deltarl::testing_support
