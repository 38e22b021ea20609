// Qwen2Config: the architecture of a Qwen2-family decoder, read from and written
// to Hugging Face `config.json`. Every field that changes the math is read; any
// setting deltarl does not implement (sliding-window attention, a rope_scaling
// type, another model_type or activation) is an error, never silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

namespace deltarl {

struct Qwen2Config {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  torch::ScalarType dtype = torch::kFloat32;  // of the stored weights ("torch_dtype")

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t parameter_count() const;

  // Throws InputError naming `source` and the field.
  void validate(const std::string& source) const;
  static Qwen2Config from_json(const nlohmann::json& json, const std::string& source);
  static Qwen2Config from_file(const std::string& path);
  // A config.json that transformers reads back to the same model.
  nlohmann::ordered_json to_json() const;

  // "tiny" and "small" (CPU work; vocabulary of the shipped CountDown
  // tokenizer unless `vocab_size` is given), "qwen2.5-0.5b", "qwen2.5-1.5b",
  // "qwen2.5-3b", "qwen2.5-7b" (the released architectures). InputError for other names.
  static Qwen2Config preset(const std::string& name, std::optional<int64_t> vocab_size = std::nullopt);
};

}  // namespace deltarl
