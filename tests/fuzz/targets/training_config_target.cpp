// Fuzz target for the YAML training config: load_training_config, as
// `deltarl train --config` reads it (sections, keys, types, ranges).
#include <algorithm>
#include <filesystem>

#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/targets/target_support.h"
#include "trainer/run/training_config.h"

namespace deltarl::fuzz {

FuzzTarget make_training_config_target(const std::string& work_folder) {
  std::filesystem::create_directories(work_folder);
  FuzzTarget target;
  target.name = "training_config";
  target.input_file_name = "run.yaml";
  // The launchers' configs, with what the launchers add (model.path, rollout.workers).
  for (const auto& entry : std::filesystem::directory_iterator(source_path("deploy/configs"))) {
    if (entry.path().extension() != ".yaml") continue;
    std::string text = read_whole_file(entry.path().string());
    const size_t rollout = text.find("\nrollout: {");
    if (rollout == std::string::npos) continue;
    text.insert(rollout + std::string("\nrollout: {").size(), "workers: [node3:5001, node4:5001], ");
    target.seeds.push_back("model: {path: /shared/models/m}\n" + text);
  }
  std::sort(target.seeds.begin(), target.seeds.end());  // directory order is not fixed; the run's inputs are
  // The README's config, and every key with its default (flow lists, floats).
  target.seeds.push_back(
      "model: {path: models/tiny}\n"
      "data: {train: countdown.jsonl, prompt_template: countdown-compact}\n"
      "rollout: {spawn_local: 2, samples_per_prompt: 8, max_new_tokens: 64}\n"
      "train: {steps: 20, prompts_per_step: 8}\n"
      "output: {dir: runs/tour}\n");
  target.seeds.push_back(training_config_to_yaml(
      training_config_from_overrides({"model.path=m", "data.train=d.jsonl", "rollout.workers=[a:1,b:2]"})));
  for (const auto& key : training_config_keys()) {
    target.dictionary.push_back(key.substr(key.find('.') + 1) + ": ");
    target.dictionary.push_back(key.substr(0, key.find('.')) + ":\n  ");
  }
  for (const char* token : {"&a ", "*a", "<<: *a", "!!str ", "!!binary ", "!!int ", "? ", "|\n", ">\n", "---\n",
                            "...\n", "%YAML 1.2\n", "{", "}", "[", "]", ": ", "- ", "\t", "#", "~", "null", "yes",
                            "0x1F", "0o17", ".nan", "-.inf", "1e400", "\"\\x00\"", "'", "!<tag:x> ", "&a [*a, *a]"}) {
    target.dictionary.emplace_back(token);
  }
  target.parse = [](const std::string& path) { load_training_config(path); };
  return target;
}

}  // namespace deltarl::fuzz
