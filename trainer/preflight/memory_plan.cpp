#include "trainer/preflight/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>

#include "core/file_system.h"
#include "core/input_error.h"
#include "core/model/causal_lm.h"

namespace deltarl {

namespace {

std::string gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

struct Shape {
  int64_t b = 0, s = 0, r = 0;
};

Shape worst_micro_batch(const TrainingConfig& config, const MemoryPlanOptions& options) {
  Shape shape;
  shape.r = config.rollout.max_new_tokens;
  shape.s = options.prompt_tokens + shape.r;
  shape.b = config.train.micro_batch_tokens > 0 ? config.train.micro_batch_tokens / shape.s
                                                : config.train.micro_batch_size;
  if (shape.b < 1) {
    throw InputError("train.micro_batch_tokens " + std::to_string(config.train.micro_batch_tokens) +
                     " is smaller than the longest sample, " + std::to_string(shape.s) + " tokens (prompt " +
                     std::to_string(options.prompt_tokens) + " + rollout.max_new_tokens " + std::to_string(shape.r) +
                     "): raise it to at least " + std::to_string(shape.s));
  }
  return shape;
}

// Note [What the learner holds] (memory_plan.h), for one configuration.
MemoryPlan plan_once(const ModelConfig& m, const TrainingConfig& config, const MemoryPlanOptions& options) {
  MemoryPlan plan;
  const int64_t e = config.model.dtype == "bfloat16" ? 2 : 4;
  const int64_t P = m.parameter_count();
  const int64_t N = std::max<int64_t>(options.ranks, 1);
  MemoryComponents& c = plan.components;
  c.weights = P * e;
  c.gradients = P * 4;  // the flat fp32 buffer (FlatGradients)
  c.optimizer_state = P * (8 + (e != 4 ? 4 : 0));
  if (config.train.zero_stage >= 1) c.optimizer_state = (c.optimizer_state + N - 1) / N;
  c.reference_model = config.algorithm.kl_coef > 0 ? P * e : 0;
  c.baseline = options.cuda ? kCudaContextBytes : kCpuProcessBaselineBytes;

  const Shape shape = worst_micro_batch(config, options);
  plan.micro_batch_rows = shape.b, plan.sequence_tokens = shape.s, plan.response_tokens = shape.r;
  const int64_t n = shape.b * shape.s, h = m.hidden_size, I = m.intermediate_size, H = m.num_attention_heads;
  const int64_t q = H * m.head_dim(), kv = m.num_key_value_heads * m.head_dim(), g = H / m.num_key_value_heads;
  const TrainingAttention attention =
      config.train.attention == "masked" ? TrainingAttention::kMasked
      : config.train.attention == "causal" ? TrainingAttention::kCausal
                                           : (options.cuda ? TrainingAttention::kCausal : default_training_attention());
  plan.masked_attention = attention == TrainingAttention::kMasked;
  const int64_t norm = n * h * (4 + 2 * e) + n * 4;
  // q, k, v and the attended values (each head of head_dim); with per-head
  // q/k norms (Qwen3) what an RMSNorm keeps of them too: the fp32 input, its
  // normalized copy and the output.
  int64_t layer = 2 * norm + n * (q * e + 2 * kv * e + q * e + 4 * I * e) + (m.qk_norm ? n * (q + kv) * (4 + 2 * e) : 0);
  layer += plan.masked_attention ? shape.b * shape.s * shape.s * (4 * H + (e == 2 ? 2 * H : 0) + g)
                                 : shape.b * shape.s * 4 * H;
  const int64_t tail = n * h * (4 + 2 * e) + shape.b * shape.r * h * e;  // final norm, response hidden states
  c.activations = config.train.activation_checkpointing ? m.num_hidden_layers * n * h * e + tail + 2 * layer
                                                        : m.num_hidden_layers * layer + tail + layer;
  int64_t largest = m.vocab_size * h;  // the embedding (or lm_head): the largest tensor
  largest = std::max(largest, I * h);
  // bf16 weights: each .grad is folded into the fp32 buffer as backward
  // accumulates it (FlatGradients::fold_during_backward); what remains is the
  // largest one's, twice when the embedding is tied (both uses' gradients
  // meet before accumulation), and its fp32 copy while it is folded.
  if (e != 4) c.activations += largest * (2 * e + 4);
  const int64_t rows = shape.b * shape.r;
  if (config.train.logits_chunk_tokens > 0) {
    c.logits = 4 * std::min(config.train.logits_chunk_tokens, rows) * m.vocab_size * 4;
  } else {
    const int64_t full = rows * m.vocab_size * 4;
    // Forward: the logits, log_softmax's output and the entropy metric's three
    // temporaries over up to 1024 rows; backward: three copies.
    c.logits = config.algorithm.entropy_coef != 0
                   ? 6 * full
                   : std::max(3 * full, 2 * full + 3 * std::min<int64_t>(rows, 1024) * m.vocab_size * 4);
  }
  // Measured (docs/memory.md) for the qwen2.5-0.5b shapes at negligible
  // activations, per element of the tied 151,936 × 896 embedding, reached in
  // backward: 9.5 B unchunked (the lm_head's gradient and its sum with the
  // embedding's sparse one), 1.5 B with logits chunks (the chunked layer adds
  // its gradient into the flat buffer). AdamW's update is chunked.
  c.step_transient = config.train.logits_chunk_tokens > 0 ? 3 * largest / 2 : 19 * largest / 2;
  // On the CPU the heap keeps the activations' freed small blocks
  // (keep_freed_tensor_memory), and the step's large temporaries are mapped
  // beside them; a GPU's caching allocator reuses them.
  const int64_t during_step = options.cuda ? c.step_transient : c.activations + c.step_transient;
  plan.per_rank_peak_bytes = c.weights + c.gradients + c.optimizer_state + c.reference_model + c.baseline +
                             std::max(c.activations + c.logits, during_step);
  return plan;
}

}  // namespace

MemoryPlan plan_memory(const ModelConfig& model, const TrainingConfig& config, const MemoryPlanOptions& options) {
  MemoryPlan plan = plan_once(model, config, options);
  if (options.limit_bytes > 0) {
    plan.limit_bytes = options.limit_bytes;
    plan.limit_source = "given";
  } else {
    if (options.cuda) {
      throw InputError("the learner runs on a GPU: give its memory (--gpu-memory 80GiB); the plan cannot see it");
    }
    const int64_t sharing = options.ranks_per_host > 0 ? options.ranks_per_host : std::max<int64_t>(options.ranks, 1);
    plan.limit_bytes = host_memory_bytes() / sharing;
    plan.limit_source = "host memory " + gib(host_memory_bytes()) + " / " + std::to_string(sharing) + " rank(s)";
  }
  if (plan.fits()) return plan;

  // One change at a time, then all that help together, in the order they cost least.
  struct Change {
    std::string setting;
    std::function<bool(TrainingConfig&, MemoryPlanOptions&)> apply;  // false: does not apply
  };
  const int64_t budget = config.train.micro_batch_tokens;
  const std::vector<Change> changes = {
      {"train.logits_chunk_tokens=1024",
       [](TrainingConfig& c, MemoryPlanOptions&) { return c.train.logits_chunk_tokens == 0 && (c.train.logits_chunk_tokens = 1024); }},
      {"train.activation_checkpointing=true",
       [](TrainingConfig& c, MemoryPlanOptions&) { return !c.train.activation_checkpointing && (c.train.activation_checkpointing = true); }},
      {budget > 0 ? "train.micro_batch_tokens=" + std::to_string(std::max<int64_t>(budget / 2, plan.sequence_tokens))
                  : "train.micro_batch_size=" + std::to_string(std::max<int64_t>(config.train.micro_batch_size / 2, 1)),
       [budget, s = plan.sequence_tokens](TrainingConfig& c, MemoryPlanOptions&) {
         if (budget > 0) {
           const int64_t halved = std::max<int64_t>(budget / 2, s);
           return halved < budget && (c.train.micro_batch_tokens = halved, true);
         }
         const int64_t halved = std::max<int64_t>(c.train.micro_batch_size / 2, 1);
         return halved < c.train.micro_batch_size && (c.train.micro_batch_size = halved, true);
       }},
      {"train.zero_stage=1",
       [](TrainingConfig& c, MemoryPlanOptions& o) { return o.ranks > 1 && c.train.zero_stage == 0 && (c.train.zero_stage = 1); }},
      {"model.dtype=bfloat16",
       [](TrainingConfig& c, MemoryPlanOptions&) { return c.model.dtype != "bfloat16" && (c.model.dtype = "bfloat16", true); }},
  };
  TrainingConfig all = config;
  MemoryPlanOptions all_options = options;
  std::vector<std::string> applied;
  for (const auto& change : changes) {
    TrainingConfig one = config;
    MemoryPlanOptions one_options = options;
    if (!change.apply(one, one_options)) continue;
    const MemoryPlan alone = plan_once(model, one, one_options);
    if (alone.per_rank_peak_bytes >= plan.per_rank_peak_bytes) continue;
    plan.suggestions.push_back("--set " + change.setting + ": " + gib(alone.per_rank_peak_bytes) +
                               (alone.per_rank_peak_bytes <= plan.limit_bytes ? " (fits)" : ""));
    change.apply(all, all_options);
    applied.push_back("--set " + change.setting);
  }
  if (applied.size() > 1) {
    const MemoryPlan together = plan_once(model, all, all_options);
    std::string text;
    for (const auto& one : applied) text += (text.empty() ? "" : " ") + one;
    plan.suggestions.push_back("all of " + text + ": " + gib(together.per_rank_peak_bytes) +
                               (together.per_rank_peak_bytes <= plan.limit_bytes ? " (fits)" : ""));
  }
  // More ranks: with ZeRO ≥ 1 the optimizer state shrinks with them.
  if (config.train.zero_stage >= 1 || options.ranks > 1) {
    TrainingConfig sharded = config;
    sharded.train.zero_stage = std::max<int64_t>(sharded.train.zero_stage, 1);
    for (int64_t ranks = std::max<int64_t>(options.ranks, 1) * 2; ranks <= 4096; ranks *= 2) {
      MemoryPlanOptions more = options;
      more.ranks = ranks;
      if (plan_once(model, sharded, more).per_rank_peak_bytes <= plan.limit_bytes) {
        plan.suggestions.push_back(std::to_string(ranks) + " ranks with train.zero_stage=" +
                                   std::to_string(sharded.train.zero_stage) + " (fits)");
        break;
      }
    }
  }
  if (plan.suggestions.empty()) {
    plan.suggestions.push_back("no single setting helps: a smaller model, or a device with more memory");
  }
  return plan;
}

std::string describe_memory_plan(const MemoryPlan& plan) {
  const MemoryComponents& c = plan.components;
  std::ostringstream out;
  out << "memory plan per learner rank: micro-batch " << plan.micro_batch_rows << " x " << plan.sequence_tokens
      << " tokens (" << plan.response_tokens << " response), " << (plan.masked_attention ? "masked" : "causal SDPA")
      << " attention\n";
  const std::pair<const char*, int64_t> rows[] = {
      {"weights", c.weights},           {"gradients", c.gradients},     {"optimizer state", c.optimizer_state},
      {"activations", c.activations},   {"logits", c.logits},           {"KL reference model", c.reference_model},
      {"process baseline", c.baseline}, {"step transient", c.step_transient}};
  for (const auto& [name, bytes] : rows) {
    char line[96];
    std::snprintf(line, sizeof(line), "  %-20s %12s\n", name, gib(bytes).c_str());
    out << line;
  }
  out << "  peak                 " << gib(plan.per_rank_peak_bytes) << " of " << gib(plan.limit_bytes) << " ("
      << plan.limit_source << "): " << (plan.fits() ? "fits" : "DOES NOT FIT") << "\n";
  for (const auto& suggestion : plan.suggestions) out << "  try " << suggestion << "\n";
  return out.str();
}

nlohmann::ordered_json memory_plan_json(const MemoryPlan& plan) {
  const MemoryComponents& c = plan.components;
  nlohmann::ordered_json json;
  json["per_rank_peak_bytes"] = plan.per_rank_peak_bytes;
  json["fits"] = plan.fits();
  json["limit_bytes"] = plan.limit_bytes;
  json["limit_source"] = plan.limit_source;
  json["components"] = {{"weights", c.weights},
                        {"gradients", c.gradients},
                        {"optimizer_state", c.optimizer_state},
                        {"activations", c.activations},
                        {"logits", c.logits},
                        {"reference_model", c.reference_model},
                        {"baseline", c.baseline},
                        {"step_transient", c.step_transient}};
  json["micro_batch"] = {{"rows", plan.micro_batch_rows},
                         {"sequence_tokens", plan.sequence_tokens},
                         {"response_tokens", plan.response_tokens},
                         {"attention", plan.masked_attention ? "masked" : "causal"}};
  json["suggestions"] = plan.suggestions;
  return json;
}

ModelConfig plan_model_config(const std::string& model_path) {
  if (model_path.empty()) throw InputError("model.path is not set: a model folder with config.json, or a preset name");
  const std::string file = join_path(model_path, "config.json");
  if (path_exists(file)) return ModelConfig::from_file(file);
  if (!path_exists(model_path)) {
    try {
      return ModelConfig::preset(model_path);
    } catch (const InputError&) {
      std::string presets;
      for (const std::string& name : ModelConfig::preset_names()) presets += (presets.empty() ? "" : ", ") + name;
      throw InputError("model.path \"" + model_path + "\" is neither a folder with config.json nor a preset (" +
                       presets + ")");
    }
  }
  throw InputError("cannot read \"" + file + "\": model.path has no config.json (the plan needs only that file)");
}

}  // namespace deltarl
