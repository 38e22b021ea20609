// ModelConfig: the architecture of a decoder-only transformer of the families
// deltarl implements, read from and written to Hugging Face `config.json`:
//
//   family  model_type  differs from Qwen2 by
//   Qwen2   "qwen2"     (q/k/v bias, no o bias; Qwen2 and Qwen2.5)
//   Qwen3   "qwen3"     no q/k/v bias; per-head RMSNorm of q and k before RoPE;
//                       an explicit head_dim (128 while hidden / heads may be 64)
//   Llama   "llama"     no q/k/v bias; RoPE frequencies scaled by rope_type
//                       "llama3" (Llama 3.1 and 3.2) or not at all (Llama 3)
//
// One decoder (causal_lm.h) reads these as configuration: attention_bias,
// qk_norm, head_dim(), rope_scaling. Every field that changes the math is read;
// any setting deltarl does not implement (sliding-window attention, another
// rope type, MoE, another model_type or activation, biases where the family
// has none) is an error naming it, never silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

namespace deltarl {

enum class ModelFamily { kQwen2, kQwen3, kLlama };

// "qwen2", "qwen3", "llama": config.json's model_type.
const char* model_type_name(ModelFamily family);

// Llama 3.1's RoPE frequency scaling (rope_type "llama3"): wavelengths longer
// than original_context / low_freq_factor are divided by `factor`, shorter than
// original_context / high_freq_factor kept, and those between interpolated.
struct RopeScaling {
  double factor = 0;  // 0: no scaling
  double low_freq_factor = 1;
  double high_freq_factor = 4;
  int64_t original_max_position_embeddings = 0;

  bool enabled() const { return factor > 0; }
};

struct ModelConfig {
  ModelFamily family = ModelFamily::kQwen2;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = true;  // q, k and v have biases (o never has)
  bool qk_norm = false;        // RMSNorm over each head of q and k (weights of head_dim) before RoPE
  int64_t head_size = 0;       // config.json's head_dim; 0: hidden_size / num_attention_heads
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  torch::ScalarType dtype = torch::kFloat32;  // of the stored weights ("torch_dtype")

  int64_t head_dim() const { return head_size > 0 ? head_size : hidden_size / num_attention_heads; }
  int64_t parameter_count() const;

  // Throws InputError naming `source` and the field.
  void validate(const std::string& source) const;
  static ModelConfig from_json(const nlohmann::json& json, const std::string& source);
  static ModelConfig from_file(const std::string& path);
  // A config.json that transformers reads back to the same model.
  nlohmann::ordered_json to_json() const;

  // "tiny" and "small" (Qwen2 shapes for CPU work; vocabulary of the shipped
  // CountDown tokenizer unless `vocab_size` is given), "tiny-qwen3" and
  // "tiny-llama" (tiny's shapes in those families), and the released
  // architectures: "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b",
  // "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "llama3.2-1b",
  // "llama3.2-3b", "llama3.1-8b". InputError for other names.
  static ModelConfig preset(const std::string& name, std::optional<int64_t> vocab_size = std::nullopt);
  static std::vector<std::string> preset_names();
};

}  // namespace deltarl
