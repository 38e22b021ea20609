// Fuzz target for the trainer state in a checkpoint (trainer_state.json), as
// `deltarl train --resume` reads it, with the run config it carries.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/targets/target_support.h"
#include "trainer/run/training_checkpoint.h"
#include "trainer/run/training_config.h"

namespace deltarl::fuzz {

FuzzTarget make_trainer_state_target(const std::string& work_folder) {
  std::filesystem::create_directories(work_folder);
  FuzzTarget target;
  target.name = "trainer_state";
  target.input_file_name = "trainer_state.json";
  // What save_training_checkpoint writes.
  nlohmann::ordered_json state;
  state["step"] = 42;
  state["sampler_cursor"] = 336;
  state["policy_version"] = 42;
  state["seed"] = 1;
  state["optimizer_steps"] = 42;
  state["rng"] = "counter-based: every random draw is a function of (seed, step, group, sample)";
  state["config_yaml"] = training_config_to_yaml(
      training_config_from_overrides({"model.path=m", "data.train=d.jsonl", "rollout.spawn_local=2"}));
  target.seeds = {state.dump(2) + "\n"};
  target.dictionary = {"\"step\"", "\"sampler_cursor\"", "\"policy_version\"", "\"seed\"", "\"optimizer_steps\"",
                       "\"config_yaml\"", "null", "true", "[]", "{}", "\"\"", "-1", "\\n", "\\t", ": ", "&a", "*a"};
  target.parse = [](const std::string& path) {
    const std::string folder = std::filesystem::path(path).parent_path().string();
    const TrainerState loaded = load_trainer_state(folder);
    if (!loaded.config_yaml.empty()) load_training_config_text(loaded.config_yaml, path + " (config_yaml)");
  };
  return target;
}

}  // namespace deltarl::fuzz
