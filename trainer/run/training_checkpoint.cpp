#include "trainer/run/training_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "core/atomic_file_writer.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/json_input.h"
#include "core/jsonl_reader.h"
#include "core/model/hf_checkpoint.h"
#include "core/safetensors.h"

namespace deltarl {

namespace {

constexpr const char* kStatesFile = "trainer_state.json";
constexpr const char* kOptimizerFile = "optimizer.safetensors";

std::string step_folder_name(int64_t step) {
  std::ostringstream name;
  name << "step-" << std::setw(8) << std::setfill('0') << step;
  return name.str();
}

// The step of a complete "step-N" folder name, or -1.
int64_t parse_step_folder(const std::string& name) {
  // More than 18 digits is not a step deltarl wrote (and would overflow).
  if (name.rfind("step-", 0) != 0 || name.size() == 5 || name.size() > 5 + 18) return -1;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
  }
  return std::stoll(name.substr(5));
}

void fsync_folder(const std::string& folder) {
  const int descriptor = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (descriptor >= 0) {
    ::fsync(descriptor);
    ::close(descriptor);
  }
}

void rename_or_throw(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + from + " to " + to + ": " + std::strerror(errno));
  }
}

}  // namespace

std::string save_training_checkpoint(const std::string& checkpoints_folder, CausalLM& model,
                                     torch::ScalarType dtype, const std::string& tokenizer_json,
                                     const std::vector<std::pair<std::string, torch::Tensor>>& optimizer_state,
                                     const TrainerState& state, int64_t keep_last) {
  make_directories(checkpoints_folder);
  const std::string final_folder = join_path(checkpoints_folder, step_folder_name(state.step));
  const std::string partial_folder = final_folder + ".partial";
  remove_tree(partial_folder);  // a crash mid-write left it; it was never a checkpoint
  make_directories(partial_folder);

  save_pretrained(model, partial_folder, dtype);
  AtomicFileWriter tokenizer_file(join_path(partial_folder, "tokenizer.json"));
  tokenizer_file.stream() << tokenizer_json;
  tokenizer_file.commit();
  write_safetensors(join_path(partial_folder, kOptimizerFile), optimizer_state);
  Json json;
  json["step"] = state.step;
  json["sampler_cursor"] = state.sampler_cursor;
  json["policy_version"] = state.policy_version;
  json["seed"] = state.seed;
  json["optimizer_steps"] = state.optimizer_steps;
  json["rng"] = "counter-based: every random draw is a function of (seed, step, group, sample)";
  json["config_yaml"] = state.config_yaml;
  AtomicFileWriter state_file(join_path(partial_folder, kStatesFile));
  state_file.stream() << json.dump(2) << "\n";
  state_file.commit();
  fsync_folder(partial_folder);

  // Same step written again (a resumed run passing it): keep the old one until the new is in place.
  const std::string replaced_folder = final_folder + ".replaced";
  const bool replacing = path_exists(final_folder);
  if (replacing) {
    remove_tree(replaced_folder);
    rename_or_throw(final_folder, replaced_folder);
  }
  rename_or_throw(partial_folder, final_folder);
  fsync_folder(checkpoints_folder);
  if (replacing) remove_tree(replaced_folder);

  std::vector<int64_t> steps;
  for (const auto& name : list_directory(checkpoints_folder)) {
    if (int64_t step = parse_step_folder(name); step >= 0) steps.push_back(step);
  }
  std::sort(steps.begin(), steps.end());
  for (size_t i = 0; i + static_cast<size_t>(keep_last) < steps.size(); ++i) {
    remove_tree(join_path(checkpoints_folder, step_folder_name(steps[i])));
  }
  return final_folder;
}

std::vector<std::string> set_aside_checkpoints_after(const std::string& checkpoints_folder, int64_t step) {
  std::vector<std::string> renamed;
  if (!is_directory(checkpoints_folder)) return renamed;
  const std::string suffix = ".abandoned-" + std::to_string(static_cast<int64_t>(std::time(nullptr)));
  for (const auto& name : list_directory(checkpoints_folder)) {
    if (parse_step_folder(name) <= step) continue;
    const std::string from = join_path(checkpoints_folder, name);
    rename_or_throw(from, from + suffix);
    renamed.push_back(from + suffix);
  }
  if (!renamed.empty()) fsync_folder(checkpoints_folder);
  return renamed;
}

std::string find_checkpoint(const std::string& path) {
  if (!is_directory(path)) throw InputError("--resume " + path + ": no such folder");
  if (path_exists(join_path(path, kStatesFile))) return path;
  std::string folder = path;
  if (is_directory(join_path(path, "checkpoints"))) folder = join_path(path, "checkpoints");
  int64_t newest = -1;
  for (const auto& name : list_directory(folder)) {
    const int64_t step = parse_step_folder(name);
    if (step > newest && path_exists(join_path(join_path(folder, name), kStatesFile))) newest = step;
  }
  if (newest < 0) {
    throw InputError("--resume " + path + ": no checkpoint here (expected " + kStatesFile +
                     ", or step-N folders holding one)");
  }
  return join_path(folder, step_folder_name(newest));
}

TrainerState load_trainer_state(const std::string& checkpoint_folder) {
  const std::string path = join_path(checkpoint_folder, kStatesFile);
  const Json json = parse_json_file<Json>(path, "trainer state (a damaged checkpoint?)");
  if (!json.is_object()) throw InputError(path + ": expected a JSON object (a damaged checkpoint?)");
  TrainerState state;
  // Every count deltarl writes here is >= 0; seeds use all of uint64.
  auto integer = [&](const char* field) -> const Json& {
    if (!json.contains(field) || !json[field].is_number_integer() ||
        (!json[field].is_number_unsigned() && json[field].get<int64_t>() < 0)) {
      throw InputError(path + ": \"" + field + "\" is missing or not an integer >= 0 (a damaged checkpoint?)");
    }
    return json[field];
  };
  auto signed_integer = [&](const char* field) {
    const Json& value = integer(field);
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      throw InputError(path + ": \"" + field + "\" is " + value.dump() + ", beyond 2^63 - 1 (a damaged checkpoint?)");
    }
    return value.get<int64_t>();
  };
  state.step = signed_integer("step");
  state.sampler_cursor = integer("sampler_cursor").get<uint64_t>();
  state.policy_version = integer("policy_version").get<uint64_t>();
  state.seed = integer("seed").get<uint64_t>();
  state.optimizer_steps = signed_integer("optimizer_steps");
  if (json.contains("config_yaml") && json["config_yaml"].is_string()) {
    state.config_yaml = json["config_yaml"].get<std::string>();
  }
  return state;
}

std::map<std::string, torch::Tensor> load_optimizer_tensors(const std::string& checkpoint_folder) {
  SafetensorsFile file(join_path(checkpoint_folder, kOptimizerFile));
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [name, entry] : file.entries()) tensors[name] = file.tensor(name).clone();
  return tensors;
}

}  // namespace deltarl
