#include "core/model/preset_checkpoint.h"

#include <torch/torch.h>

#include "core/file_system.h"
#include "core/input_error.h"
#include "core/model/hf_checkpoint.h"
#include "core/preset_files.h"
#include "core/tokenizer/tokenizer.h"

namespace deltarl {

ModelConfig write_preset_checkpoint(const std::string& preset, const std::string& tokenizer_path,
                                    const std::string& folder, uint64_t seed, torch::ScalarType dtype) {
  const bool tiny = preset == "tiny" || preset == "small" || preset == "tiny-qwen3" || preset == "tiny-llama";
  if (tokenizer_path.empty() && !tiny) throw InputError("--tokenizer is required for preset " + preset);
  const std::string tokenizer_file = tokenizer_path.empty() ? countdown_tokenizer_path() : tokenizer_path;
  const Tokenizer tokenizer = Tokenizer::from_file(tokenizer_file);
  ModelConfig config =
      ModelConfig::preset(preset, tiny ? std::optional<int64_t>(tokenizer.vocab_size()) : std::nullopt);
  if (tokenizer.vocab_size() > config.vocab_size) {
    throw InputError(tokenizer_file + " has " + std::to_string(tokenizer.vocab_size()) +
                     " tokens, more than the preset's vocab_size " + std::to_string(config.vocab_size));
  }
  if (tiny) {
    for (const char* eos : {"<|endoftext|>", "<|im_end|>"}) {
      if (auto id = tokenizer.token_to_id(eos)) config.eos_token_ids.push_back(*id);
    }
  }
  if (path_exists(join_path(folder, "config.json"))) {
    throw InputError("\"" + folder + "\" already holds a checkpoint; choose a new folder");
  }
  make_directories(folder);
  torch::manual_seed(seed);
  CausalLM model(config);
  save_pretrained(model, folder, dtype);
  copy_file(tokenizer_file, join_path(folder, "tokenizer.json"));
  return config;
}

}  // namespace deltarl
