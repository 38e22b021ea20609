// TrainingConfig: everything `deltarl train` reads from its YAML file, with the
// defaults documented in docs/configuration.md. Keys are "section.name"; an
// unknown key, a wrong type or an out-of-range value is an InputError naming
// the key and the file. `--set key=value` overrides any key (the value is read
// as YAML, so lists work too: --set rollout.workers=[a:1,b:2]).
//
//   TrainingConfig config = load_training_config("run.yaml", {"train.steps=10"});
//   std::cout << training_config_to_yaml(config);   // every key, for the run folder
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trainer/algorithm/advantage.h"
#include "trainer/algorithm/aggregation_config.h"
#include "trainer/algorithm/policy_update.h"

namespace deltarl {

struct ModelSection {
  std::string path;                 // HF folder: config.json, model.safetensors, tokenizer.json
  std::string dtype = "float32";    // training weights: float32 | bfloat16
};

struct DataSection {
  std::string train;                // JSONL, one prompt with the verifier's ground truth per line
  std::string task = "countdown";   // countdown | math | synthetic (a test task)
  std::string prompt_template;      // a preset name or a text with {placeholders}; "": the task's own preset
  bool chat = false;                // wrap the prompt as a user turn in the model's chat format
  bool chat_thinking = true;        // Qwen3's format: false ends the prompt with an empty <think></think>
  bool shuffle = true;
  double format_reward = 0.0;       // countdown: reward of a well-formed wrong answer (TinyZero: 0.1)
};

struct RolloutSection {
  std::vector<std::string> workers;  // host:port of running workers
  int64_t spawn_local = 0;           // workers the trainer starts on 127.0.0.1 itself
  int64_t worker_threads = 0;        // threads per spawned worker; 0: cores / spawn_local
  int64_t worker_max_batch = 64;     // sequences a spawned worker decodes together
  std::string worker_kv_cache_memory;  // a spawned worker's KV cache budget ("20GiB"); empty: the worker's default
  bool worker_cuda_graphs = false;     // spawned workers decode through CUDA graphs (--cuda-graphs)
  std::string worker_device = "cpu";   // where spawned workers generate: cpu, cuda or cuda:N (--device)
  std::string auth_token_file;       // shared token for the workers (else $DELTARL_ROLLOUT_TOKEN)
  int64_t samples_per_prompt = 8;    // G
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t max_new_tokens = 256;
  double deadline_seconds = 1800;    // per step's generation
  bool filter_equal_rewards = false; // DAPO dynamic sampling
  int64_t max_refill_rounds = 8;
  bool one_step_off = false;         // generate step k+1 while training step k
};

struct AlgorithmSection {
  AggregationConfig aggregation;     // loss_agg_mode, alpha, delta_l_scope, max_response_length
  AdvantageEstimator advantage = AdvantageEstimator::kGrpo;
  double clip_ratio_low = 0.2;       // ε_low
  double clip_ratio_high = 0.28;     // ε_high (clip-higher)
  double kl_coef = 0.0;              // k3 KL to the frozen initial model; 0 = no reference model
  double entropy_coef = 0.0;
  std::string old_log_probs = "learner";  // learner | rollout: π_old in the PPO ratio
  int64_t ppo_mini_batch_size = 0;   // prompt groups per update; 0: every group of the step
  int64_t ppo_epochs = 1;            // passes over the step's mini-batches
  double clip_ratio_c = 3.0;         // dual clip for negative advantages (> 1)
  std::string rollout_correction = "none";  // none | tis | mis | seq-tis | seq-mis
  double rollout_correction_cap = 2.0;      // C > 1
};

struct TrainSection {
  int64_t steps = 100;               // rollout batches, each making ppo_epochs × mini-batches updates
  int64_t prompts_per_step = 16;     // prompt groups per step (rollout batch), over all ranks
  int64_t micro_batch_size = 8;      // samples per forward/backward
  int64_t micro_batch_tokens = 0;    // > 0: padded tokens per forward/backward, samples by length (wins)
  int64_t logits_chunk_tokens = 0;   // > 0: the output layer this many tokens at a time, never the full logits
  bool activation_checkpointing = false;  // recompute each decoder layer in backward instead of keeping it
  std::string attention = "auto";    // auto | masked | causal (SDPA without a mask, LibTorch ≥ 2.1)
  int64_t zero_stage = 0;            // ZeRO: 1 shards the fp32 master weights and AdamW moments, 2 also gradients
  uint64_t seed = 1;
  std::string device = "auto";       // auto | cpu | cuda
  int64_t threads = 0;               // LibTorch threads per rank; 0: cores / ranks on the host
  // Seconds one step may take before the step watchdog aborts the job (0: off).
  // Unset ("auto" in YAML): rollout.deadline_seconds + kStepTimeoutMarginSeconds,
  // following the deadline; TrainingConfig::step_timeout_seconds() resolves it.
  std::optional<double> step_timeout_seconds;
};

// What an unset train.step_timeout_seconds adds to rollout.deadline_seconds: a
// step may also evaluate and write a checkpoint.
constexpr double kStepTimeoutMarginSeconds = 3600;

struct OptimSection {
  double lr = 1e-6;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;         // cosine decay from lr to lr · min_lr_ratio
  double grad_clip = 1.0;            // global grad-norm clip; 0 = off
};

struct CheckpointSection {
  int64_t every = 50;                // steps; 0 = only at the end and on signals
  int64_t keep_last = 3;
};

struct EvalSection {
  std::string data;                  // held-out JSONL of the same task; "" = no evaluation
  int64_t every = 10;                // steps between evaluations (also before step 1 and after the last)
  int64_t samples = 1;               // per prompt
  double temperature = 0.0;          // 0: greedy
  int64_t limit = 0;                 // first N prompts; 0: all
  int64_t max_new_tokens = 0;        // 0: rollout.max_new_tokens
};

struct OutputSection {
  std::string dir = "runs/deltarl";
  bool tensorboard = true;
  bool save_rollouts = false;        // each step's samples as rollouts/step-N.jsonl (docs/training.md)
};

struct TrainingConfig {
  ModelSection model;
  DataSection data;
  RolloutSection rollout;
  AlgorithmSection algorithm;
  TrainSection train;
  OptimSection optim;
  CheckpointSection checkpoint;
  EvalSection eval;
  OutputSection output;
  std::string source;                // the file it came from, for messages

  // Cross-field checks (ranges, required keys); throws InputError naming the
  // key and `source`. load_training_config() calls it.
  void validate() const;
  // M for the loss weights: algorithm.max_response_length, or max_new_tokens when 0.
  double max_response_length() const;
  // The step watchdog's timeout: train.step_timeout_seconds when set (0: off),
  // else rollout.deadline_seconds + kStepTimeoutMarginSeconds.
  double step_timeout_seconds() const;
};

// Reads `path` (YAML mapping of sections), then applies `overrides`
// ("key=value"), then validates. Throws InputError naming the file and key.
TrainingConfig load_training_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The same from YAML text (e.g. the config a checkpoint stored); `source` names it.
TrainingConfig load_training_config_text(const std::string& text, const std::string& source,
                                         const std::vector<std::string>& overrides = {});
// Applies overrides and validates an in-memory config (defaults + overrides).
TrainingConfig training_config_from_overrides(const std::vector<std::string>& overrides,
                                              const std::string& source = "--set");

// Every key with its value, as YAML that load_training_config() reads back to
// the same config (the run folder keeps it as config.yaml).
std::string training_config_to_yaml(const TrainingConfig& config);
// The policy update's options from the algorithm, train, rollout and optim
// sections (M resolved). Throws InputError naming algorithm.rollout_correction
// for an unknown correction.
PolicyUpdateOptions policy_update_options(const TrainingConfig& config);

// train.attention as the model's setting: auto is kCausal where this LibTorch
// has it (default_training_attention()), else kMasked.
TrainingAttention training_attention(const TrainingConfig& config);

// Every key, as "section.name", in file order (for docs and tests).
std::vector<std::string> training_config_keys();

}  // namespace deltarl
