#include "core/model/qwen2_config.h"

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

int64_t Qwen2Config::parameter_count() const {
  const int64_t kv = num_key_value_heads * head_dim();
  const int64_t attention = hidden_size * hidden_size * 2 + hidden_size * kv * 2 + hidden_size + 2 * kv;
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  const int64_t layer = attention + mlp + 2 * hidden_size;
  return vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + hidden_size;
}

void Qwen2Config::validate(const std::string& source) const {
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
  if (hidden_size % num_attention_heads != 0) {
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
}

Qwen2Config Qwen2Config::from_json(const json& config, const std::string& source) {
  if (!config.is_object()) throw InputError(source + ": config is not a JSON object");
  const std::string model_type = json_field<std::string>(config, "model_type", source).value_or("");
  if (model_type != "qwen2") {
    throw InputError(source + ": model_type \"" + model_type + "\" is not supported; deltarl implements \"qwen2\" "
                     "(Qwen2, Qwen2.5)");
  }
  Qwen2Config c;
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
  if (const auto head_dim = json_field<int64_t>(config, "head_dim", source);
      head_dim && *head_dim != c.hidden_size / c.num_attention_heads) {
    throw InputError(source + ": head_dim " + std::to_string(*head_dim) + " differs from hidden_size / "
                     "num_attention_heads; Qwen2 does not support that");
  }
  const std::string activation = json_field<std::string>(config, "hidden_act", source).value_or("silu");
  if (activation != "silu") throw InputError(source + ": hidden_act \"" + activation + "\" is not supported (Qwen2 uses silu)");
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
    if (type != "default") {
      throw InputError(source + ": " + field + " type \"" + type + "\" is not implemented (only default RoPE)");
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

Qwen2Config Qwen2Config::from_file(const std::string& path) {
  return from_json(parse_json_file<json>(path, "model config"), path);
}

nlohmann::ordered_json Qwen2Config::to_json() const {
  nlohmann::ordered_json config;
  config["architectures"] = {"Qwen2ForCausalLM"};
  config["model_type"] = "qwen2";
  config["vocab_size"] = vocab_size;
  config["hidden_size"] = hidden_size;
  config["intermediate_size"] = intermediate_size;
  config["num_hidden_layers"] = num_hidden_layers;
  config["num_attention_heads"] = num_attention_heads;
  config["num_key_value_heads"] = num_key_value_heads;
  config["hidden_act"] = "silu";
  config["max_position_embeddings"] = max_position_embeddings;
  config["rms_norm_eps"] = rms_norm_eps;
  config["rope_theta"] = rope_theta;
  config["rope_scaling"] = nullptr;
  config["tie_word_embeddings"] = tie_word_embeddings;
  config["use_sliding_window"] = false;
  config["sliding_window"] = nullptr;
  config["max_window_layers"] = num_hidden_layers;
  config["attention_dropout"] = 0.0;
  config["initializer_range"] = 0.02;
  config["use_cache"] = true;
  if (bos_token_id) config["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) config["eos_token_id"] = eos_token_ids[0];
  if (eos_token_ids.size() > 1) config["eos_token_id"] = eos_token_ids;
  config["torch_dtype"] = dtype_name(dtype);
  return config;
}

Qwen2Config Qwen2Config::preset(const std::string& name, std::optional<int64_t> vocab_size) {
  Qwen2Config c;
  c.rms_norm_eps = 1e-6;
  if (name == "tiny" || name == "small") {
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
  } else {
    throw InputError("unknown model preset \"" + name + "\"; presets: tiny, small, qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-3b, qwen2.5-7b");
  }
  c.validate("preset " + name);
  return c;
}

}  // namespace deltarl
