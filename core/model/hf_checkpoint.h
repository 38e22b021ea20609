// Hugging Face checkpoints: a folder with config.json and model.safetensors (or
// shards listed in model.safetensors.index.json). What deltarl saves loads in
// `transformers` unchanged, and the other way round.
//
//   CausalLM model = load_pretrained("Qwen2.5-0.5B/", torch::kCUDA, torch::kBFloat16);
//   save_pretrained(model, "out/step-100", torch::kBFloat16);
//
// A missing lm_head.weight means tied embeddings. A corrupt, truncated or
// mismatched checkpoint is an InputError naming the file and the tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/causal_lm.h"
#include "core/safetensors.h"

namespace deltarl {

// The tensors of a checkpoint folder, single-file or sharded.
class HfCheckpoint {
 public:
  explicit HfCheckpoint(const std::string& folder);
  bool contains(const std::string& name) const { return location_.count(name) != 0; }
  // Read-only CPU view; InputError naming the folder when absent.
  torch::Tensor tensor(const std::string& name) const;
  // Where a tensor lives, for messages.
  std::string file_of(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::string folder_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> location_;  // tensor name → index in files_
};

// Loads config.json and the weights. `dtype` overrides the stored dtype.
CausalLM load_pretrained(const std::string& folder, torch::Device device = torch::kCPU,
                                 std::optional<torch::ScalarType> dtype = std::nullopt);

// Writes config.json and model.safetensors (or shards of at most
// `max_shard_bytes` with an index) into `folder`, which must exist. Each file is
// written atomically; stale files of the other layout are removed.
void save_pretrained(CausalLM& model, const std::string& folder,
                     torch::ScalarType dtype = torch::kFloat32, int64_t max_shard_bytes = int64_t{5} << 30);

}  // namespace deltarl
