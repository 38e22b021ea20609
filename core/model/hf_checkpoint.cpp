#include "core/model/hf_checkpoint.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/atomic_file_writer.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/json_input.h"

namespace deltarl {

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// Tensors some checkpoints carry that the model recomputes.
bool is_derived_buffer(const std::string& name) {
  return name.size() >= 9 && name.compare(name.size() - 9, 9, ".inv_freq") == 0;
}

}  // namespace

HfCheckpoint::HfCheckpoint(const std::string& folder) : folder_(folder) {
  if (!is_directory(folder)) throw InputError("checkpoint folder \"" + folder + "\" does not exist");
  if (path_exists(join_path(folder, kIndexFile))) {
    const std::string index_path = join_path(folder, kIndexFile);
    const auto index = parse_json_file<nlohmann::json>(index_path, "checkpoint index");
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw InputError(index_path + ": missing object \"weight_map\"");
    }
    std::map<std::string, size_t> file_index;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw InputError(index_path + ": weight_map[\"" + it.key() + "\"] is not a file name");
      const std::string shard = it.value().get<std::string>();
      if (shard.empty() || shard == "." || shard == ".." || shard.find_first_of(std::string("/\0", 2)) != std::string::npos) {
        throw InputError(index_path + ": shard \"" + shard + "\" is not a plain file name");
      }
      auto [entry, inserted] = file_index.emplace(shard, files_.size());
      if (inserted) files_.push_back(std::make_unique<SafetensorsFile>(join_path(folder, shard)));
      if (!files_[entry->second]->contains(it.key())) {
        throw InputError(index_path + ": weight_map puts \"" + it.key() + "\" in " + shard + ", which lacks it");
      }
      location_[it.key()] = entry->second;
    }
  } else if (path_exists(join_path(folder, kSingleFile))) {
    files_.push_back(std::make_unique<SafetensorsFile>(join_path(folder, kSingleFile)));
    for (const auto& [name, entry] : files_.back()->entries()) location_[name] = 0;
  } else {
    throw InputError("checkpoint folder \"" + folder + "\" has neither " + kSingleFile + " nor " + kIndexFile);
  }
}

torch::Tensor HfCheckpoint::tensor(const std::string& name) const {
  auto it = location_.find(name);
  if (it == location_.end()) throw InputError("checkpoint \"" + folder_ + "\" has no tensor \"" + name + "\"");
  return files_[it->second]->tensor(name);
}

std::string HfCheckpoint::file_of(const std::string& name) const {
  auto it = location_.find(name);
  return it == location_.end() ? folder_ : files_[it->second]->path();
}

std::vector<std::string> HfCheckpoint::names() const {
  std::vector<std::string> result;
  for (const auto& [name, index] : location_) result.push_back(name);
  return result;
}

CausalLM load_pretrained(const std::string& folder, torch::Device device,
                                 std::optional<torch::ScalarType> dtype) {
  ModelConfig config = ModelConfig::from_file(join_path(folder, "config.json"));
  HfCheckpoint checkpoint(folder);
  if (!checkpoint.contains("lm_head.weight")) config.tie_word_embeddings = true;
  // Before the model allocates what config.json asks for: a config from another
  // (or a corrupt) model would first allocate up to terabytes. Far more than
  // the weights hold is refused here; a smaller mismatch reaches the checks
  // below, which name the tensor.
  int64_t stored_elements = 0;
  for (const auto& name : checkpoint.names()) {
    if (is_derived_buffer(name) || (name == "lm_head.weight" && config.tie_word_embeddings)) continue;
    stored_elements += checkpoint.tensor(name).numel();
  }
  if (config.parameter_count() > 2 * stored_elements + (int64_t{1} << 24)) {
    throw InputError(join_path(folder, "config.json") + " describes " + std::to_string(config.parameter_count()) +
                     " parameters but the checkpoint's weights hold " + std::to_string(stored_elements) +
                     " (config and weights from different models?)");
  }
  CausalLM model(config);
  std::map<std::string, bool> used;
  {
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters(/*recurse=*/true)) {
      const std::string& name = item.key();
      if (!checkpoint.contains(name)) {
        throw InputError("checkpoint \"" + folder + "\" lacks tensor \"" + name + "\" that config.json's architecture needs");
      }
      torch::Tensor stored = checkpoint.tensor(name);
      if (stored.sizes() != item.value().sizes()) {
        throw InputError(checkpoint.file_of(name) + ": tensor \"" + name + "\" has shape " +
                         c10::str(stored.sizes()) + " but config.json implies " + c10::str(item.value().sizes()) +
                         " (config and weights from different models?)");
      }
      item.value().copy_(stored);
      used[name] = true;
    }
  }
  for (const auto& name : checkpoint.names()) {
    if (used.count(name) || is_derived_buffer(name) || (name == "lm_head.weight" && config.tie_word_embeddings)) continue;
    throw InputError(checkpoint.file_of(name) + ": unexpected tensor \"" + name + "\" (not part of a " +
                     std::string(model_type_name(config.family)) + " model with this config.json)");
  }
  model->to(device, dtype.value_or(config.dtype));
  return model;
}

void save_pretrained(CausalLM& model, const std::string& folder, torch::ScalarType dtype,
                     int64_t max_shard_bytes) {
  if (!is_directory(folder)) throw InputError("save_pretrained: folder \"" + folder + "\" does not exist");
  std::vector<std::vector<std::pair<std::string, torch::Tensor>>> shards(1);
  int64_t shard_bytes = 0, total_bytes = 0;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    torch::Tensor tensor = item.value().detach().to(torch::kCPU, dtype).contiguous();
    const int64_t bytes = tensor.numel() * static_cast<int64_t>(tensor.element_size());
    if (!shards.back().empty() && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().emplace_back(item.key(), std::move(tensor));
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  if (shards.size() == 1) {
    write_safetensors(join_path(folder, kSingleFile), shards[0]);
    remove_file(join_path(folder, kIndexFile));
  } else {
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_size", total_bytes}};
    for (size_t i = 0; i < shards.size(); ++i) {
      char name[64];
      std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
      write_safetensors(join_path(folder, name), shards[i]);
      for (const auto& [tensor_name, tensor] : shards[i]) index["weight_map"][tensor_name] = name;
    }
    AtomicFileWriter writer(join_path(folder, kIndexFile));
    writer.stream() << index.dump(2) << "\n";
    writer.commit();
    remove_file(join_path(folder, kSingleFile));
  }
  ModelConfig config = model->config();
  config.dtype = dtype;
  AtomicFileWriter writer(join_path(folder, "config.json"));
  writer.stream() << config.to_json().dump(2) << "\n";
  writer.commit();
}

}  // namespace deltarl
