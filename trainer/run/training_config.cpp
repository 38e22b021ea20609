#include "trainer/run/training_config.h"

#include <cmath>
#include <functional>
#include <set>
#include <sstream>

#include <torch/version.h>
#include <yaml-cpp/yaml.h>

#include "core/input_error.h"
#include "core/memory_size.h"

namespace deltarl {

namespace {

// One key of the file: how to read it into a config and how to print it.
struct KeyBinding {
  std::string path;
  std::function<void(TrainingConfig&, const YAML::Node&, const std::string& where)> read;
  std::function<YAML::Node(const TrainingConfig&)> write;
};

std::string type_error(const std::string& where, const char* expected, const YAML::Node& node) {
  std::string shown = node.IsScalar() ? "\"" + node.Scalar() + "\"" : node.IsSequence() ? "a list" : "a mapping";
  return where + " must be " + expected + ", not " + shown;
}

template <typename T>
T scalar_as(const YAML::Node& node, const std::string& where, const char* expected) {
  if (!node.IsScalar()) throw InputError(type_error(where, expected, node));
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw InputError(type_error(where, expected, node));
  }
}

// The shortest decimal text that reads back as exactly `value`.
std::string shortest_text(double value) {
  for (int precision = 1; precision <= 17; ++precision) {
    std::ostringstream text;
    text.precision(precision);
    text << value;
    if (std::stod(text.str()) == value) return text.str();
  }
  return std::to_string(value);
}

// Binds a key to a member reached through `field`.
template <typename T, typename Field>
KeyBinding bind(std::string path, Field field) {
  KeyBinding binding;
  binding.path = path;
  binding.read = [field](TrainingConfig& config, const YAML::Node& node, const std::string& where) {
    T& target = field(config);
    if constexpr (std::is_same_v<T, bool>) {
      target = scalar_as<bool>(node, where, "true or false");
    } else if constexpr (std::is_same_v<T, std::string>) {
      target = node.IsNull() ? std::string() : scalar_as<std::string>(node, where, "a string");
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      target.clear();
      if (node.IsNull()) return;
      if (!node.IsSequence()) throw InputError(type_error(where, "a list of strings", node));
      for (const auto& item : node) target.push_back(scalar_as<std::string>(item, where, "a list of strings"));
    } else if constexpr (std::is_integral_v<T>) {
      // yaml-cpp reads 1.5 as an int64 error but "1e3" too; insist on digits.
      const std::string text = node.IsScalar() ? node.Scalar() : std::string();
      if (text.empty() || text.find_first_not_of("+-0123456789") != std::string::npos) {
        throw InputError(type_error(where, "an integer", node));
      }
      target = scalar_as<T>(node, where, "an integer");
    } else {
      target = scalar_as<T>(node, where, "a number");
      if (!std::isfinite(static_cast<double>(target))) throw InputError(where + " must be finite");
    }
  };
  binding.write = [field](const TrainingConfig& config) {
    const T& value = field(const_cast<TrainingConfig&>(config));
    YAML::Node node;
    if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      node = YAML::Node(YAML::NodeType::Sequence);
      for (const auto& item : value) node.push_back(item);
    } else if constexpr (std::is_floating_point_v<T>) {
      node = shortest_text(value);  // 0.2, not 0.20000000000000001; still reads back exactly
    } else {
      node = value;
    }
    return node;
  };
  return binding;
}

// A key whose text maps onto an enum through parse/print functions.
template <typename Enum>
KeyBinding bind_enum(std::string path, std::function<Enum&(TrainingConfig&)> field, Enum (*parse)(const std::string&),
                     const char* (*name)(Enum)) {
  KeyBinding binding;
  binding.path = path;
  binding.read = [field, parse](TrainingConfig& config, const YAML::Node& node, const std::string& where) {
    const auto text = scalar_as<std::string>(node, where, "a string");
    try {
      field(config) = parse(text);
    } catch (const InputError& error) {
      throw InputError(where + ": " + error.what());
    }
  };
  binding.write = [field, name](const TrainingConfig& config) {
    return YAML::Node(std::string(name(field(const_cast<TrainingConfig&>(config)))));
  };
  return binding;
}

// A number key that may be left to a default computed from other keys: "auto"
// (or no key) leaves it unset, which is how it is printed back.
KeyBinding bind_number_or_auto(std::string path, std::function<std::optional<double>&(TrainingConfig&)> field) {
  KeyBinding binding;
  binding.path = path;
  binding.read = [field](TrainingConfig& config, const YAML::Node& node, const std::string& where) {
    if (node.IsScalar() && node.Scalar() == "auto") {
      field(config).reset();
      return;
    }
    const auto value = scalar_as<double>(node, where, "a number or auto");
    if (!std::isfinite(value)) throw InputError(where + " must be finite");
    field(config) = value;
  };
  binding.write = [field](const TrainingConfig& config) {
    const auto& value = field(const_cast<TrainingConfig&>(config));
    return YAML::Node(value ? shortest_text(*value) : std::string("auto"));
  };
  return binding;
}

#define DELTARL_KEY(type, section, member) \
  bind<type>(#section "." #member, [](TrainingConfig& c) -> type& { return c.section.member; })

const std::vector<KeyBinding>& key_bindings() {
  static const std::vector<KeyBinding> bindings = [] {
    std::vector<KeyBinding> keys = {
        DELTARL_KEY(std::string, model, path),
        DELTARL_KEY(std::string, model, dtype),
        DELTARL_KEY(std::string, data, train),
        DELTARL_KEY(std::string, data, task),
        DELTARL_KEY(std::string, data, prompt_template),
        DELTARL_KEY(bool, data, chat),
        DELTARL_KEY(bool, data, chat_thinking),
        DELTARL_KEY(bool, data, shuffle),
        DELTARL_KEY(double, data, format_reward),
        DELTARL_KEY(std::vector<std::string>, rollout, workers),
        DELTARL_KEY(int64_t, rollout, spawn_local),
        DELTARL_KEY(int64_t, rollout, worker_threads),
        DELTARL_KEY(int64_t, rollout, worker_max_batch),
        DELTARL_KEY(std::string, rollout, worker_kv_cache_memory),
        DELTARL_KEY(bool, rollout, worker_cuda_graphs),
        DELTARL_KEY(std::string, rollout, worker_device),
        DELTARL_KEY(std::string, rollout, auth_token_file),
        DELTARL_KEY(int64_t, rollout, samples_per_prompt),
        DELTARL_KEY(double, rollout, temperature),
        DELTARL_KEY(double, rollout, top_p),
        DELTARL_KEY(int64_t, rollout, max_new_tokens),
        DELTARL_KEY(double, rollout, deadline_seconds),
        DELTARL_KEY(bool, rollout, filter_equal_rewards),
        DELTARL_KEY(int64_t, rollout, max_refill_rounds),
        DELTARL_KEY(bool, rollout, one_step_off),
        bind_enum<AggregationMode>(
            "algorithm.loss_agg_mode",
            [](TrainingConfig& c) -> AggregationMode& { return c.algorithm.aggregation.mode; },
            parse_aggregation_mode, aggregation_mode_name),
        bind<double>("algorithm.alpha", [](TrainingConfig& c) -> double& { return c.algorithm.aggregation.alpha; }),
        bind_enum<DeltaLScope>(
            "algorithm.delta_l_scope",
            [](TrainingConfig& c) -> DeltaLScope& { return c.algorithm.aggregation.scope; }, parse_delta_l_scope,
            delta_l_scope_name),
        bind<double>("algorithm.max_response_length",
                     [](TrainingConfig& c) -> double& { return c.algorithm.aggregation.max_response_length; }),
        bind_enum<AdvantageEstimator>(
            "algorithm.advantage", [](TrainingConfig& c) -> AdvantageEstimator& { return c.algorithm.advantage; },
            parse_advantage_estimator, advantage_estimator_name),
        DELTARL_KEY(double, algorithm, clip_ratio_low),
        DELTARL_KEY(double, algorithm, clip_ratio_high),
        DELTARL_KEY(double, algorithm, kl_coef),
        DELTARL_KEY(double, algorithm, entropy_coef),
        DELTARL_KEY(std::string, algorithm, old_log_probs),
        DELTARL_KEY(int64_t, algorithm, ppo_mini_batch_size),
        DELTARL_KEY(int64_t, algorithm, ppo_epochs),
        DELTARL_KEY(double, algorithm, clip_ratio_c),
        DELTARL_KEY(std::string, algorithm, rollout_correction),
        DELTARL_KEY(double, algorithm, rollout_correction_cap),
        DELTARL_KEY(int64_t, train, steps),
        DELTARL_KEY(int64_t, train, prompts_per_step),
        DELTARL_KEY(int64_t, train, micro_batch_size),
        DELTARL_KEY(int64_t, train, micro_batch_tokens),
        DELTARL_KEY(int64_t, train, logits_chunk_tokens),
        DELTARL_KEY(bool, train, activation_checkpointing),
        DELTARL_KEY(std::string, train, attention),
        DELTARL_KEY(int64_t, train, zero_stage),
        DELTARL_KEY(uint64_t, train, seed),
        DELTARL_KEY(std::string, train, device),
        DELTARL_KEY(int64_t, train, threads),
        bind_number_or_auto("train.step_timeout_seconds",
                            [](TrainingConfig& c) -> std::optional<double>& { return c.train.step_timeout_seconds; }),
        DELTARL_KEY(double, optim, lr),
        DELTARL_KEY(double, optim, beta1),
        DELTARL_KEY(double, optim, beta2),
        DELTARL_KEY(double, optim, eps),
        DELTARL_KEY(double, optim, weight_decay),
        DELTARL_KEY(int64_t, optim, warmup_steps),
        DELTARL_KEY(double, optim, min_lr_ratio),
        DELTARL_KEY(double, optim, grad_clip),
        DELTARL_KEY(int64_t, checkpoint, every),
        DELTARL_KEY(int64_t, checkpoint, keep_last),
        DELTARL_KEY(std::string, eval, data),
        DELTARL_KEY(int64_t, eval, every),
        DELTARL_KEY(int64_t, eval, samples),
        DELTARL_KEY(double, eval, temperature),
        DELTARL_KEY(int64_t, eval, limit),
        DELTARL_KEY(int64_t, eval, max_new_tokens),
        DELTARL_KEY(std::string, output, dir),
        DELTARL_KEY(bool, output, tensorboard),
        DELTARL_KEY(bool, output, save_rollouts),
    };
    return keys;
  }();
  return bindings;
}

#undef DELTARL_KEY

const KeyBinding* find_binding(const std::string& path) {
  for (const auto& binding : key_bindings()) {
    if (binding.path == path) return &binding;
  }
  return nullptr;
}

// The known key closest to a misspelt one (edit distance), for "did you mean".
std::string closest_key(const std::string& path) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t best_distance = 4;  // beyond this a suggestion is noise
  for (const auto& binding : key_bindings()) {
    size_t d = distance(path, binding.path);
    if (d < best_distance) best_distance = d, best = binding.path;
  }
  return best;
}

[[noreturn]] void unknown_key(const std::string& path, const std::string& source) {
  std::string message = source + ": unknown key \"" + path + "\"";
  if (auto suggestion = closest_key(path); !suggestion.empty()) message += " (did you mean \"" + suggestion + "\"?)";
  message += "; docs/configuration.md lists every key";
  throw InputError(message);
}

void apply_key(TrainingConfig& config, const std::string& path, const YAML::Node& value, const std::string& source) {
  const KeyBinding* binding = find_binding(path);
  if (binding == nullptr) unknown_key(path, source);
  binding->read(config, value, source + ": " + path);
}

// A mapping's key as text; a key that is a list or a mapping is no key of a config.
std::string key_text(const YAML::Node& key, const std::string& source, const std::string& parent) {
  if (!key.IsScalar()) {
    throw InputError(source + ": " + (parent.empty() ? std::string("a section name") : "a key in \"" + parent + "\"") +
                     " is " + (key.IsSequence() ? "a list" : key.IsMap() ? "a mapping" : "empty") +
                     ", not a name");
  }
  return key.Scalar();
}

void apply_document(TrainingConfig& config, const YAML::Node& root, const std::string& source) {
  if (root.IsNull()) return;
  if (!root.IsMap()) throw InputError(source + ": the config must be a mapping of sections (model:, data:, ...)");
  for (const auto& section : root) {
    const auto section_name = key_text(section.first, source, "");
    if (!section.second.IsMap()) {
      bool known_section = false;
      for (const auto& binding : key_bindings()) known_section |= binding.path.rfind(section_name + ".", 0) == 0;
      if (!known_section) unknown_key(section_name, source);
      throw InputError(source + ": \"" + section_name + "\" must be a mapping of keys");
    }
    for (const auto& entry : section.second) {
      apply_key(config, section_name + "." + key_text(entry.first, source, section_name), entry.second, source);
    }
  }
}

void apply_overrides(TrainingConfig& config, const std::vector<std::string>& overrides) {
  for (const auto& text : overrides) {
    const auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw InputError("--set \"" + text + "\": expected key=value, e.g. --set train.steps=10");
    }
    const std::string key = text.substr(0, equals);
    YAML::Node value;
    try {
      value = YAML::Load(text.substr(equals + 1));
    } catch (const YAML::Exception& error) {
      throw InputError("--set " + key + ": the value is not valid YAML: " + error.what());
    }
    apply_key(config, key, value, "--set");
  }
}

void require(bool condition, const TrainingConfig& config, const std::string& key, const std::string& why) {
  if (!condition) throw InputError(config.source + ": " + key + " " + why);
}

// The divisor of `n` closest to `wanted` from below, for a message's suggestion.
int64_t largest_divisor_at_most(int64_t n, int64_t wanted) {
  for (int64_t d = std::min(n, std::max<int64_t>(wanted, 1)); d > 1; --d) {
    if (n % d == 0) return d;
  }
  return 1;
}

}  // namespace

TrainingAttention training_attention(const TrainingConfig& config) {
  if (config.train.attention == "masked") return TrainingAttention::kMasked;
  if (config.train.attention == "causal") return TrainingAttention::kCausal;
  return default_training_attention();
}

PolicyUpdateOptions policy_update_options(const TrainingConfig& config) {
  PolicyUpdateOptions options;
  options.aggregation = config.algorithm.aggregation;
  options.aggregation.max_response_length = config.max_response_length();
  options.advantage = config.algorithm.advantage;
  options.loss.clip_ratio_low = config.algorithm.clip_ratio_low;
  options.loss.clip_ratio_high = config.algorithm.clip_ratio_high;
  options.loss.clip_ratio_c = config.algorithm.clip_ratio_c;
  options.loss.kl_coef = config.algorithm.kl_coef;
  options.loss.entropy_coef = config.algorithm.entropy_coef;
  options.temperature = config.rollout.temperature;
  options.old_log_probs_from_rollout = config.algorithm.old_log_probs == "rollout";
  options.rollout_correction.mode = parse_rollout_correction(config.algorithm.rollout_correction);
  options.rollout_correction.cap = config.algorithm.rollout_correction_cap;
  options.micro_batching.size = config.train.micro_batch_size;
  options.micro_batching.token_budget = config.train.micro_batch_tokens;
  options.logits_chunk_tokens = config.train.logits_chunk_tokens;
  options.groups_per_mini_batch = config.algorithm.ppo_mini_batch_size;
  options.epochs = config.algorithm.ppo_epochs;
  options.seed = config.train.seed;
  options.grad_clip = config.optim.grad_clip;
  options.zero_stage = config.train.zero_stage;
  return options;
}

void TrainingConfig::validate() const {
  require(!model.path.empty(), *this, "model.path", "is required (a folder with config.json and weights)");
  require(model.dtype == "float32" || model.dtype == "bfloat16", *this, "model.dtype",
          "must be float32 or bfloat16, not \"" + model.dtype + "\"");
  require(!data.train.empty(), *this, "data.train", "is required (a JSONL file of prompts)");
  require(data.task == "countdown" || data.task == "math" || data.task == "synthetic", *this, "data.task",
          "must be countdown, math or synthetic, not \"" + data.task + "\"");
  require(data.format_reward >= 0 && data.format_reward <= 1, *this, "data.format_reward", "must be in [0, 1]");
  require(rollout.spawn_local >= 0 && rollout.spawn_local <= 64, *this, "rollout.spawn_local", "must be in [0, 64]");
  require(rollout.spawn_local > 0 || !rollout.workers.empty(), *this, "rollout.workers",
          "is empty and rollout.spawn_local is 0: give worker addresses or spawn some");
  require(rollout.worker_threads >= 0, *this, "rollout.worker_threads", "must be ≥ 0");
  require(rollout.worker_max_batch >= 1, *this, "rollout.worker_max_batch", "must be ≥ 1");
  require(rollout.worker_device == "cpu" || rollout.worker_device.rfind("cuda", 0) == 0, *this, "rollout.worker_device",
          "must be cpu, cuda or cuda:N, not \"" + rollout.worker_device + "\"");
  if (!rollout.worker_kv_cache_memory.empty()) {
    try {
      parse_memory_size(rollout.worker_kv_cache_memory, "rollout.worker_kv_cache_memory");
    } catch (const InputError&) {
      require(false, *this, "rollout.worker_kv_cache_memory", "must be a memory size such as 2GiB or 20GB, not \"" +
              rollout.worker_kv_cache_memory + "\"");
    }
  }
  require(rollout.samples_per_prompt >= 1 && rollout.samples_per_prompt <= 1024, *this,
          "rollout.samples_per_prompt", "must be in [1, 1024]");
  require(rollout.temperature > 0 && rollout.temperature <= 100, *this, "rollout.temperature",
          "must be in (0, 100]: RL needs sampling, and log-probs use logits / T");
  require(rollout.top_p > 0 && rollout.top_p <= 1, *this, "rollout.top_p", "must be in (0, 1]");
  require(rollout.max_new_tokens >= 1, *this, "rollout.max_new_tokens", "must be ≥ 1");
  require(rollout.deadline_seconds > 0, *this, "rollout.deadline_seconds", "must be > 0");
  require(rollout.max_refill_rounds >= 0, *this, "rollout.max_refill_rounds", "must be ≥ 0");
  try {
    AggregationConfig aggregation = algorithm.aggregation;
    aggregation.max_response_length = max_response_length();
    aggregation.validate();
  } catch (const InputError& error) {
    throw InputError(source + ": algorithm: " + error.what());
  }
  require(algorithm.clip_ratio_low >= 0 && algorithm.clip_ratio_low < 1, *this, "algorithm.clip_ratio_low",
          "must be in [0, 1)");
  require(algorithm.clip_ratio_high >= 0, *this, "algorithm.clip_ratio_high", "must be ≥ 0");
  require(algorithm.kl_coef >= 0, *this, "algorithm.kl_coef", "must be ≥ 0");
  require(algorithm.old_log_probs == "learner" || algorithm.old_log_probs == "rollout", *this,
          "algorithm.old_log_probs", "must be learner or rollout, not \"" + algorithm.old_log_probs + "\"");
  require(algorithm.ppo_mini_batch_size >= 0, *this, "algorithm.ppo_mini_batch_size",
          "must be ≥ 0 (prompt groups per update; 0: one update of every group)");
  require(algorithm.ppo_mini_batch_size == 0 || train.prompts_per_step % algorithm.ppo_mini_batch_size == 0, *this,
          "algorithm.ppo_mini_batch_size",
          "(" + std::to_string(algorithm.ppo_mini_batch_size) + ") must divide train.prompts_per_step (" +
              std::to_string(train.prompts_per_step) + "): set it to a divisor such as " +
              std::to_string(largest_divisor_at_most(train.prompts_per_step, algorithm.ppo_mini_batch_size)) +
              ", or 0 for one update per step");
  try {
    policy_update_options(*this).validate();
  } catch (const InputError& error) {
    throw InputError(source + ": " + error.what());
  }
  require(train.steps >= 1, *this, "train.steps", "must be ≥ 1");
  require(train.prompts_per_step >= 1, *this, "train.prompts_per_step", "must be ≥ 1");
  require(train.micro_batch_size >= 1, *this, "train.micro_batch_size", "must be ≥ 1");
  require(train.attention == "auto" || train.attention == "masked" || train.attention == "causal", *this,
          "train.attention", "must be auto, masked or causal, not \"" + train.attention + "\"");
  require(train.attention != "causal" || causal_attention_supported(), *this, "train.attention",
          std::string("is causal, which needs SDPA's causal path (LibTorch ≥ 2.1), but this deltarl is built against "
                      "LibTorch ") + TORCH_VERSION + ": set auto (the mask here) or masked");
  require(train.zero_stage >= 0 && train.zero_stage <= 2, *this, "train.zero_stage",
          "must be 0, 1 or 2, not " + std::to_string(train.zero_stage) +
              " (ZeRO's stages: 0 none, 1 shards the optimizer state, 2 also the gradients; "
              "stage 3's parameter sharding is not offered)");
  require(train.micro_batch_tokens == 0 || train.micro_batch_tokens > rollout.max_new_tokens, *this,
          "train.micro_batch_tokens",
          "(" + std::to_string(train.micro_batch_tokens) + ") must be 0 (micro-batches by count) or exceed "
          "rollout.max_new_tokens (" + std::to_string(rollout.max_new_tokens) +
              "): a micro-batch must hold a prompt with a full response");
  require(train.device == "auto" || train.device == "cpu" || train.device == "cuda", *this, "train.device",
          "must be auto, cpu or cuda, not \"" + train.device + "\"");
  require(train.threads >= 0, *this, "train.threads", "must be ≥ 0");
  require(!train.step_timeout_seconds || *train.step_timeout_seconds >= 0, *this, "train.step_timeout_seconds",
          "must be ≥ 0 (0 turns the step watchdog off; auto: rollout.deadline_seconds + 3600)");
  require(optim.lr > 0, *this, "optim.lr", "must be > 0");
  require(optim.beta1 >= 0 && optim.beta1 < 1, *this, "optim.beta1", "must be in [0, 1)");
  require(optim.beta2 >= 0 && optim.beta2 < 1, *this, "optim.beta2", "must be in [0, 1)");
  require(optim.eps > 0, *this, "optim.eps", "must be > 0");
  require(optim.weight_decay >= 0, *this, "optim.weight_decay", "must be ≥ 0");
  require(optim.warmup_steps >= 0, *this, "optim.warmup_steps", "must be ≥ 0");
  require(optim.min_lr_ratio >= 0 && optim.min_lr_ratio <= 1, *this, "optim.min_lr_ratio", "must be in [0, 1]");
  require(optim.grad_clip >= 0, *this, "optim.grad_clip", "must be ≥ 0 (0 turns clipping off)");
  require(checkpoint.every >= 0, *this, "checkpoint.every", "must be ≥ 0");
  require(checkpoint.keep_last >= 1, *this, "checkpoint.keep_last", "must be ≥ 1");
  require(eval.every >= 1, *this, "eval.every", "must be ≥ 1");
  require(eval.samples >= 1, *this, "eval.samples", "must be ≥ 1");
  require(eval.temperature >= 0 && eval.temperature <= 100, *this, "eval.temperature", "must be in [0, 100]");
  require(eval.limit >= 0, *this, "eval.limit", "must be ≥ 0");
  require(eval.max_new_tokens >= 0, *this, "eval.max_new_tokens", "must be ≥ 0");
  require(!output.dir.empty(), *this, "output.dir", "is required");
}

double TrainingConfig::max_response_length() const {
  return algorithm.aggregation.max_response_length > 0 ? algorithm.aggregation.max_response_length
                                                       : static_cast<double>(rollout.max_new_tokens);
}

double TrainingConfig::step_timeout_seconds() const {
  return train.step_timeout_seconds ? *train.step_timeout_seconds
                                    : rollout.deadline_seconds + kStepTimeoutMarginSeconds;
}

TrainingConfig load_training_config(const std::string& path, const std::vector<std::string>& overrides) {
  TrainingConfig config;
  config.source = path;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw InputError(path + ": cannot read the config file (does it exist?)");
  } catch (const YAML::Exception& error) {
    throw InputError(path + ": not valid YAML: " + error.what());
  }
  apply_document(config, root, path);
  apply_overrides(config, overrides);
  config.validate();
  return config;
}

TrainingConfig load_training_config_text(const std::string& text, const std::string& source,
                                         const std::vector<std::string>& overrides) {
  TrainingConfig config;
  config.source = source;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw InputError(source + ": not valid YAML: " + error.what());
  }
  apply_document(config, root, source);
  apply_overrides(config, overrides);
  config.validate();
  return config;
}

TrainingConfig training_config_from_overrides(const std::vector<std::string>& overrides, const std::string& source) {
  TrainingConfig config;
  config.source = source;
  apply_overrides(config, overrides);
  config.validate();
  return config;
}

std::string training_config_to_yaml(const TrainingConfig& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string open_section;
  for (const auto& binding : key_bindings()) {
    const auto dot = binding.path.find('.');
    const std::string section = binding.path.substr(0, dot);
    if (section != open_section) {
      if (!open_section.empty()) out << YAML::EndMap;
      out << YAML::Key << section << YAML::Value << YAML::BeginMap;
      open_section = section;
    }
    YAML::Node value = binding.write(config);
    out << YAML::Key << binding.path.substr(dot + 1) << YAML::Value;
    if (value.IsSequence()) out << YAML::Flow;
    out << value;
  }
  if (!open_section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::vector<std::string> training_config_keys() {
  std::vector<std::string> keys;
  for (const auto& binding : key_bindings()) keys.push_back(binding.path);
  return keys;
}

}  // namespace deltarl
