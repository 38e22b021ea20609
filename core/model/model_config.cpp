#include "core/model/model_config.h"

#include <tuple>

#include "core/input_error.h"
#include "core/json_input.h"

namespace deltarl {

namespace {

using nlohmann::json;

int64_t required_int(const json& config, const char* field, const std::string& source) {
  const std::optional<int64_t> value = json_field<int64_t>(config, field, source);
  if (!value) throw InputError(source + ": missing field \"" + field + "\"");
  if (*value <= 0) {
    throw InputError(source + ": field \"" + field + "\" must be a positive integer, got " + std::to_string(*value));
  }
  return *value;
}

double number_or(const json& config, const char* field, double fallback, const std::string& source) {
  return json_field<double>(config, field, source).value_or(fallback);
}

torch::ScalarType parse_dtype(const std::string& name, const std::string& source) {
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  throw InputError(source + ": torch_dtype \"" + name + "\" is not float32, bfloat16 or float16");
}

std::string dtype_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: return "float32";
  }
}

// The CountDown tokenizer shipped for the tiny presets (core/presets/).
constexpr int64_t kCountdownTokenizerVocabulary = 512;

}  // namespace

const char* model_type_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::kQwen3: return "qwen3";
    case ModelFamily::kLlama: return "llama";
    default: return "qwen2";
  }
}

int64_t ModelConfig::parameter_count() const {
  const int64_t q = num_attention_heads * head_dim(), kv = num_key_value_heads * head_dim();
  const int64_t attention = hidden_size * (q + 2 * kv) + q * hidden_size + (attention_bias ? q + 2 * kv : 0) +
                            (qk_norm ? 2 * head_dim() : 0);
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  const int64_t layer = attention + mlp + 2 * hidden_size;
  return vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + hidden_size;
}

void ModelConfig::validate(const std::string& source) const {
  // Bounds no Qwen2 comes near (Qwen2.5-72B: hidden 8192, intermediate 29568,
  // vocabulary 152064, 80 layers, 64 heads; Qwen2.5-1M: 1010000 positions), so
  // that a corrupt config fails here instead of asking for terabytes, and
  // parameter_count() cannot overflow.
  const std::tuple<const char*, int64_t, int64_t> sizes[] = {
      {"vocab_size", vocab_size, int64_t{1} << 24},
      {"hidden_size", hidden_size, int64_t{1} << 20},
      {"intermediate_size", intermediate_size, int64_t{1} << 22},
      {"num_hidden_layers", num_hidden_layers, int64_t{1} << 12},
      {"num_attention_heads", num_attention_heads, int64_t{1} << 16},
      {"num_key_value_heads", num_key_value_heads, int64_t{1} << 16},
      {"max_position_embeddings", max_position_embeddings, int64_t{1} << 24}};
  for (const auto& [field, size, largest] : sizes) {
    if (size <= 0 || size > largest) {
      throw InputError(source + ": " + field + " " + std::to_string(size) + " is outside [1, " +
                       std::to_string(largest) + "]: a corrupt config?");
    }
  }
  // The family fixes these (to_json writes only the family).
  if (attention_bias != (family == ModelFamily::kQwen2) || qk_norm != (family == ModelFamily::kQwen3)) {
    throw InputError(source + ": " + model_type_name(family) + " has " +
                     (family == ModelFamily::kQwen2 ? "q/k/v biases" : "no q/k/v biases") + " and " +
                     (family == ModelFamily::kQwen3 ? "per-head q/k norms" : "no q/k norms") +
                     "; attention_bias or qk_norm says otherwise");
  }
  if (head_size < 0 || head_size > (int64_t{1} << 12)) {
    throw InputError(source + ": head_dim " + std::to_string(head_size) + " is outside [1, 4096]: a corrupt config?");
  }
  if (head_size == 0 && hidden_size % num_attention_heads != 0) {
    throw InputError(source + ": hidden_size " + std::to_string(hidden_size) + " is not divisible by num_attention_heads " +
                     std::to_string(num_attention_heads));
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    throw InputError(source + ": num_attention_heads " + std::to_string(num_attention_heads) +
                     " is not a multiple of num_key_value_heads " + std::to_string(num_key_value_heads));
  }
  if (head_dim() % 2 != 0) throw InputError(source + ": head dimension must be even for rotary embeddings");
  if (!(rms_norm_eps > 0)) throw InputError(source + ": rms_norm_eps must be > 0");
  if (!(rope_theta > 0)) throw InputError(source + ": rope_theta must be > 0");
  if (rope_scaling.enabled()) {
    if (!(rope_scaling.factor >= 1) || !(rope_scaling.low_freq_factor > 0) ||
        !(rope_scaling.high_freq_factor > rope_scaling.low_freq_factor) ||
        rope_scaling.original_max_position_embeddings <= 0) {
      throw InputError(source + ": rope_scaling (llama3) needs factor >= 1, 0 < low_freq_factor < high_freq_factor "
                       "and original_max_position_embeddings > 0");
    }
  }
}

ModelConfig ModelConfig::from_json(const json& config, const std::string& source) {
  if (!config.is_object()) throw InputError(source + ": config is not a JSON object");
  const std::string model_type = json_field<std::string>(config, "model_type", source).value_or("");
  ModelConfig c;
  if (model_type == "qwen2") {
    c.family = ModelFamily::kQwen2;
  } else if (model_type == "qwen3") {
    c.family = ModelFamily::kQwen3;
  } else if (model_type == "llama") {
    c.family = ModelFamily::kLlama;
  } else {
    throw InputError(source + ": model_type \"" + model_type + "\" is not supported; deltarl implements \"qwen2\" "
                     "(Qwen2, Qwen2.5), \"qwen3\" (Qwen3 dense) and \"llama\" (Llama 3, 3.1, 3.2)");
  }
  // Mixture-of-experts fields of the families' MoE variants (qwen3_moe, Mixtral) in a dense model_type.
  for (const char* field : {"num_experts", "num_local_experts", "num_experts_per_tok"}) {
    if (config.contains(field) && !config[field].is_null() && config[field] != 0) {
      throw InputError(source + ": " + field + " " + config[field].dump().substr(0, 50) +
                       ": mixture-of-experts models are not implemented (dense models only)");
    }
  }
  c.qk_norm = c.family == ModelFamily::kQwen3;
  c.attention_bias = c.family == ModelFamily::kQwen2;
  if (c.family != ModelFamily::kQwen2) {
    // Qwen2's q/k/v bias is implied; the others say so, and their bias would also reach o_proj.
    if (json_field<bool>(config, "attention_bias", source).value_or(false)) {
      throw InputError(source + ": attention_bias is true; deltarl implements " + model_type + " without attention "
                       "biases (no released " + model_type + " model has them)");
    }
    if (json_field<bool>(config, "mlp_bias", source).value_or(false)) {
      throw InputError(source + ": mlp_bias is true; deltarl implements " + model_type + " without MLP biases");
    }
  }
  if (const auto pretraining_tp = json_field<int64_t>(config, "pretraining_tp", source);
      pretraining_tp && *pretraining_tp != 1) {
    throw InputError(source + ": pretraining_tp " + std::to_string(*pretraining_tp) + " is not supported (use 1)");
  }
  c.vocab_size = required_int(config, "vocab_size", source);
  c.hidden_size = required_int(config, "hidden_size", source);
  c.intermediate_size = required_int(config, "intermediate_size", source);
  c.num_hidden_layers = required_int(config, "num_hidden_layers", source);
  c.num_attention_heads = required_int(config, "num_attention_heads", source);
  c.num_key_value_heads = config.contains("num_key_value_heads") && !config["num_key_value_heads"].is_null()
                              ? required_int(config, "num_key_value_heads", source)
                              : c.num_attention_heads;
  c.max_position_embeddings = required_int(config, "max_position_embeddings", source);
  c.rms_norm_eps = number_or(config, "rms_norm_eps", 1e-6, source);
  c.tie_word_embeddings = json_field<bool>(config, "tie_word_embeddings", source).value_or(false);
  if (const auto head_dim = json_field<int64_t>(config, "head_dim", source)) {
    if (c.family == ModelFamily::kQwen2 && *head_dim != c.hidden_size / c.num_attention_heads) {
      throw InputError(source + ": head_dim " + std::to_string(*head_dim) + " differs from hidden_size / "
                       "num_attention_heads; Qwen2 does not support that");
    }
    c.head_size = *head_dim;
  } else if (c.family == ModelFamily::kQwen3) {
    c.head_size = 128;  // transformers' Qwen3Config default
  }
  const std::string activation = json_field<std::string>(config, "hidden_act", source).value_or("silu");
  if (activation != "silu") {
    throw InputError(source + ": hidden_act \"" + activation + "\" is not supported (the families deltarl implements use silu)");
  }
  if (json_field<bool>(config, "use_sliding_window", source).value_or(false)) {
    throw InputError(source + ": use_sliding_window is true; sliding-window attention is not implemented");
  }
  if (config.contains("layer_types") && config["layer_types"].is_array()) {
    for (const json& type : config["layer_types"]) {
      if (type != "full_attention") {
        throw InputError(source + ": layer_types contains " + type.dump().substr(0, 200) +
                         "; only full attention is implemented");
      }
    }
  }
  if (number_or(config, "attention_dropout", 0.0, source) != 0.0) {
    throw InputError(source + ": attention_dropout " + config["attention_dropout"].dump() + " is not supported (use 0)");
  }
  // RoPE: transformers 4.x writes rope_theta and rope_scaling; 5.x rope_parameters.
  c.rope_theta = number_or(config, "rope_theta", 10000.0, source);
  for (const char* field : {"rope_scaling", "rope_parameters"}) {
    if (!config.contains(field) || config[field].is_null()) continue;
    const json& rope = config[field];
    const std::string rope_source = source + ": " + field;
    if (!rope.is_object()) throw InputError(rope_source + " must be an object, got " + rope.dump().substr(0, 200));
    const std::string type = json_field<std::string>(rope, "rope_type", rope_source)
                                 .value_or(json_field<std::string>(rope, "type", rope_source).value_or("default"));
    if (type == "llama3") {
      c.rope_scaling.factor = number_or(rope, "factor", 0.0, rope_source);
      c.rope_scaling.low_freq_factor = number_or(rope, "low_freq_factor", 1.0, rope_source);
      c.rope_scaling.high_freq_factor = number_or(rope, "high_freq_factor", 4.0, rope_source);
      c.rope_scaling.original_max_position_embeddings =
          json_field<int64_t>(rope, "original_max_position_embeddings", rope_source).value_or(0);
      if (!c.rope_scaling.enabled() || c.rope_scaling.original_max_position_embeddings <= 0) {
        throw InputError(rope_source + ": rope_type llama3 needs factor > 0 and original_max_position_embeddings");
      }
    } else if (type != "default") {
      throw InputError(source + ": " + field + " type \"" + type + "\" is not implemented (default and llama3 RoPE are)");
    }
    c.rope_theta = number_or(rope, "rope_theta", c.rope_theta, rope_source);
  }
  auto token_id = [&](const json& id, const char* field) {
    if (!id.is_number_integer() || (id.is_number_unsigned() && id.get<uint64_t>() > INT64_MAX) ||
        id.get<int64_t>() < 0) {
      throw InputError(source + ": " + field + " " + id.dump().substr(0, 200) + " is not a token id (an integer >= 0)");
    }
    return id.get<int64_t>();
  };
  if (config.contains("bos_token_id") && !config["bos_token_id"].is_null()) {
    c.bos_token_id = token_id(config["bos_token_id"], "bos_token_id");
  }
  if (config.contains("eos_token_id") && !config["eos_token_id"].is_null()) {
    const json& eos = config["eos_token_id"];
    if (eos.is_array()) {
      for (const json& id : eos) c.eos_token_ids.push_back(token_id(id, "eos_token_id"));
    } else {
      c.eos_token_ids.push_back(token_id(eos, "eos_token_id"));
    }
  }
  for (const char* field : {"torch_dtype", "dtype"}) {
    if (config.contains(field) && config[field].is_string()) c.dtype = parse_dtype(config[field].get<std::string>(), source);
  }
  c.validate(source);
  return c;
}

ModelConfig ModelConfig::from_file(const std::string& path) {
  return from_json(parse_json_file<json>(path, "model config"), path);
}

nlohmann::ordered_json ModelConfig::to_json() const {
  nlohmann::ordered_json config;
  const char* architecture = family == ModelFamily::kQwen3   ? "Qwen3ForCausalLM"
                             : family == ModelFamily::kLlama ? "LlamaForCausalLM"
                                                             : "Qwen2ForCausalLM";
  config["architectures"] = {architecture};
  config["model_type"] = model_type_name(family);
  config["vocab_size"] = vocab_size;
  config["hidden_size"] = hidden_size;
  config["intermediate_size"] = intermediate_size;
  config["num_hidden_layers"] = num_hidden_layers;
  config["num_attention_heads"] = num_attention_heads;
  config["num_key_value_heads"] = num_key_value_heads;
  if (family != ModelFamily::kQwen2) config["head_dim"] = head_dim();
  config["hidden_act"] = "silu";
  config["max_position_embeddings"] = max_position_embeddings;
  config["rms_norm_eps"] = rms_norm_eps;
  config["rope_theta"] = rope_theta;
  if (rope_scaling.enabled()) {
    config["rope_scaling"] = {{"rope_type", "llama3"},
                              {"factor", rope_scaling.factor},
                              {"low_freq_factor", rope_scaling.low_freq_factor},
                              {"high_freq_factor", rope_scaling.high_freq_factor},
                              {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  } else {
    config["rope_scaling"] = nullptr;
  }
  config["tie_word_embeddings"] = tie_word_embeddings;
  if (family == ModelFamily::kLlama) {
    config["attention_bias"] = false;
    config["mlp_bias"] = false;
    config["pretraining_tp"] = 1;
  } else {
    if (family == ModelFamily::kQwen3) config["attention_bias"] = false;
    config["use_sliding_window"] = false;
    config["sliding_window"] = nullptr;
    config["max_window_layers"] = num_hidden_layers;
  }
  config["attention_dropout"] = 0.0;
  config["initializer_range"] = 0.02;
  config["use_cache"] = true;
  if (bos_token_id) config["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) config["eos_token_id"] = eos_token_ids[0];
  if (eos_token_ids.size() > 1) config["eos_token_id"] = eos_token_ids;
  config["torch_dtype"] = dtype_name(dtype);
  return config;
}

ModelConfig ModelConfig::preset(const std::string& name, std::optional<int64_t> vocab_size) {
  ModelConfig c;
  c.rms_norm_eps = 1e-6;
  if (name == "tiny-qwen3" || name == "tiny-llama") {
    // The tiny preset's shapes in the other families, for CPU work and tests:
    // Qwen3 with a head size (64) other than hidden / heads (32); Llama with
    // llama3 RoPE scaling.
    c = preset("tiny", vocab_size);
    c.attention_bias = false;
    if (name == "tiny-qwen3") {
      c.family = ModelFamily::kQwen3;
      c.qk_norm = true;
      c.head_size = 64;
      c.rope_theta = 1000000.0;
    } else {
      c.family = ModelFamily::kLlama;
      c.rms_norm_eps = 1e-5;
      c.rope_theta = 500000.0;
      c.rope_scaling = RopeScaling{8.0, 1.0, 4.0, 256};
    }
  } else if (name == "tiny" || name == "small") {
    const bool tiny = name == "tiny";
    c.vocab_size = vocab_size.value_or(kCountdownTokenizerVocabulary);
    c.hidden_size = tiny ? 128 : 256;
    c.intermediate_size = tiny ? 352 : 704;
    c.num_hidden_layers = tiny ? 4 : 8;
    c.num_attention_heads = tiny ? 4 : 8;
    c.num_key_value_heads = 2;
    c.max_position_embeddings = 1024;
    c.rope_theta = 10000.0;
    c.tie_word_embeddings = true;
  } else if (name == "qwen2.5-0.5b" || name == "qwen2.5-1.5b" || name == "qwen2.5-3b" || name == "qwen2.5-7b") {
    c.vocab_size = vocab_size.value_or(151936);
    c.max_position_embeddings = 32768;
    c.rope_theta = 1000000.0;
    c.tie_word_embeddings = true;
    c.num_key_value_heads = 2;
    c.bos_token_id = 151643;
    c.eos_token_ids = {151643};
    c.dtype = torch::kBFloat16;
    if (name == "qwen2.5-0.5b") {
      c.hidden_size = 896, c.intermediate_size = 4864, c.num_hidden_layers = 24, c.num_attention_heads = 14;
    } else if (name == "qwen2.5-1.5b") {
      c.hidden_size = 1536, c.intermediate_size = 8960, c.num_hidden_layers = 28, c.num_attention_heads = 12;
    } else if (name == "qwen2.5-3b") {
      c.hidden_size = 2048, c.intermediate_size = 11008, c.num_hidden_layers = 36, c.num_attention_heads = 16;
    } else {  // untied, 4 KV heads, a padded vocabulary (Qwen/Qwen2.5-7B config.json)
      c.vocab_size = vocab_size.value_or(152064);
      c.tie_word_embeddings = false;
      c.num_key_value_heads = 4;
      c.hidden_size = 3584, c.intermediate_size = 18944, c.num_hidden_layers = 28, c.num_attention_heads = 28;
    }
  } else if (name == "qwen3-0.6b" || name == "qwen3-1.7b" || name == "qwen3-4b" || name == "qwen3-8b") {
    // Qwen/Qwen3-*/config.json: head_dim 128 whatever hidden / heads, 8 KV heads.
    c.family = ModelFamily::kQwen3;
    c.attention_bias = false;
    c.qk_norm = true;
    c.head_size = 128;
    c.vocab_size = vocab_size.value_or(151936);
    c.max_position_embeddings = 40960;
    c.rope_theta = 1000000.0;
    c.num_key_value_heads = 8;
    c.tie_word_embeddings = true;
    c.bos_token_id = 151643;
    c.eos_token_ids = {151645};
    c.dtype = torch::kBFloat16;
    if (name == "qwen3-0.6b") {
      c.hidden_size = 1024, c.intermediate_size = 3072, c.num_hidden_layers = 28, c.num_attention_heads = 16;
    } else if (name == "qwen3-1.7b") {
      c.hidden_size = 2048, c.intermediate_size = 6144, c.num_hidden_layers = 28, c.num_attention_heads = 16;
    } else if (name == "qwen3-4b") {
      c.hidden_size = 2560, c.intermediate_size = 9728, c.num_hidden_layers = 36, c.num_attention_heads = 32;
    } else {
      c.hidden_size = 4096, c.intermediate_size = 12288, c.num_hidden_layers = 36, c.num_attention_heads = 32;
      c.tie_word_embeddings = false;
    }
  } else if (name == "llama3.2-1b" || name == "llama3.2-3b" || name == "llama3.1-8b") {
    // meta-llama/Llama-3.2-1B, -3.2-3B, -3.1-8B config.json.
    c.family = ModelFamily::kLlama;
    c.attention_bias = false;
    c.vocab_size = vocab_size.value_or(128256);
    c.max_position_embeddings = 131072;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 500000.0;
    c.rope_scaling = RopeScaling{32.0, 1.0, 4.0, 8192};
    c.num_key_value_heads = 8;
    c.tie_word_embeddings = true;
    c.bos_token_id = 128000;
    c.eos_token_ids = {128001};
    c.dtype = torch::kBFloat16;
    if (name == "llama3.2-1b") {
      c.hidden_size = 2048, c.intermediate_size = 8192, c.num_hidden_layers = 16, c.num_attention_heads = 32;
    } else if (name == "llama3.2-3b") {
      c.hidden_size = 3072, c.intermediate_size = 8192, c.num_hidden_layers = 28, c.num_attention_heads = 24;
    } else {
      c.hidden_size = 4096, c.intermediate_size = 14336, c.num_hidden_layers = 32, c.num_attention_heads = 32;
      c.rope_scaling.factor = 8.0;
      c.tie_word_embeddings = false;
    }
  } else {
    std::string names;
    for (const std::string& known : preset_names()) names += (names.empty() ? "" : ", ") + known;
    throw InputError("unknown model preset \"" + name + "\"; presets: " + names);
  }
  c.validate("preset " + name);
  return c;
}

std::vector<std::string> ModelConfig::preset_names() {
  return {"tiny",        "small",      "tiny-qwen3", "tiny-llama",  "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b",
          "qwen2.5-7b",  "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b",    "qwen3-8b",     "llama3.2-1b",  "llama3.2-3b",
          "llama3.1-8b"};
}

}  // namespace deltarl
