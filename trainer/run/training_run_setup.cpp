// TrainingRun's set-up, in the order the constructor calls it. Anything that
// can fail on one rank only runs inside agree_or_throw, so that a rank whose
// part went fine learns of the failure instead of waiting in a collective.
#include <algorithm>
#include <cstdlib>

#include <torch/torch.h>

#include "core/atomic_file_writer.h"
#include "core/compute_threads.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/log.h"
#include "core/model/hf_checkpoint.h"
#include "trainer/comm/agreement.h"
#include "trainer/run/learner_model.h"
#include "trainer/rollout/worker_rollouts.h"
#include "trainer/run/training_run.h"

namespace deltarl {

namespace {

PromptDatasetOptions prompt_options(const TrainingConfig& config, const ModelConfig& model, int64_t context_length) {
  PromptDatasetOptions options;
  options.task = config.data.task;
  options.prompt_template = config.data.prompt_template;
  options.chat = config.data.chat;
  // The family's format (config.json, which every rank holds): the folder's
  // tokenizer_config.json may be on rank 0's disk only.
  options.chat_format = ChatFormat::of_family(model.family);
  options.chat_format.thinking = config.data.chat_thinking;
  if (model.family == ModelFamily::kLlama) options.bos_token_id = model.bos_token_id;
  options.format_reward = config.data.format_reward;
  options.max_prompt_tokens = context_length - config.rollout.max_new_tokens;
  if (options.max_prompt_tokens < 1) {
    throw InputError(config.source + ": rollout.max_new_tokens (" + std::to_string(config.rollout.max_new_tokens) +
                     ") leaves no room for prompts in the model's context of " + std::to_string(context_length));
  }
  return options;
}

}  // namespace

void TrainingRun::read_checkpoint_to_resume() {
  agree_or_throw(host_, "reading the checkpoint", [&] {
    if (options_.resume.empty()) return;
    checkpoint_folder_ = find_checkpoint(options_.resume);
    resumed_ = load_trainer_state(checkpoint_folder_);
    if (resumed_.seed != config_.train.seed) {
      throw InputError("--resume " + checkpoint_folder_ + " was trained with train.seed " +
                       std::to_string(resumed_.seed) + ", the config says " + std::to_string(config_.train.seed) +
                       ": the prompts and samples would not continue the run; use the same seed");
    }
    if (resumed_.step >= config_.train.steps) {
      throw InputError("--resume " + checkpoint_folder_ + " is at step " + std::to_string(resumed_.step) +
                       ", already at train.steps = " + std::to_string(config_.train.steps) + "; raise train.steps");
    }
  });
  model_folder_ = checkpoint_folder_.empty() ? config_.model.path : checkpoint_folder_;
}

namespace {

// With train.micro_batch_tokens, every sample must fit one micro-batch: the
// longest prompt with a full response is refused now, not at the step that
// first samples it.
void check_token_budget_fits(const TrainingConfig& config, const PromptDataset& prompts) {
  const int64_t budget = config.train.micro_batch_tokens;
  if (budget <= 0) return;
  if (prompts.size() == 0) return;
  size_t longest = 0;
  for (size_t i = 1; i < prompts.size(); ++i) {
    if (prompts[i].token_ids.size() > prompts[longest].token_ids.size()) longest = i;
  }
  const int64_t needed = static_cast<int64_t>(prompts[longest].token_ids.size()) + config.rollout.max_new_tokens;
  if (needed > budget) {
    throw InputError(config.source + ": train.micro_batch_tokens (" + std::to_string(budget) +
                     ") is below the longest possible sample: prompt " + std::to_string(longest + 1) + " of " +
                     config.data.train + " has " + std::to_string(prompts[longest].token_ids.size()) +
                     " tokens, + rollout.max_new_tokens " + std::to_string(config.rollout.max_new_tokens) + " = " +
                     std::to_string(needed) + "; set train.micro_batch_tokens ≥ " + std::to_string(needed));
  }
}

}  // namespace

void TrainingRun::load_model_and_data() {
  device_ = device_communicator_.device();
  agree_or_throw(host_, "loading the model and data", [&] {
    LearnerModel learner = load_learner_model(
        config_, {model_folder_, checkpoint_folder_, resumed_.optimizer_steps}, device_communicator_, local_size_);
    dtype_ = learner.dtype;
    model_ = learner.model;
    reference_ = learner.reference;
    tokenizer_json_ = std::move(learner.tokenizer_json);
    optimizer_ = std::move(learner.optimizer);
    tokenizer_ = std::make_unique<Tokenizer>(
        Tokenizer::from_json_text(tokenizer_json_, join_path(model_folder_, "tokenizer.json")));
    const int64_t context_length = model_->config().max_position_embeddings;
    const PromptDatasetOptions train_prompts = prompt_options(config_, model_->config(), context_length);
    prompts_ = std::make_unique<PromptDataset>(config_.data.train, *tokenizer_, train_prompts);
    check_token_budget_fits(config_, *prompts_);
    if (!config_.eval.data.empty()) {
      eval_options_.prompts = train_prompts;
      eval_options_.max_new_tokens =
          config_.eval.max_new_tokens > 0 ? config_.eval.max_new_tokens : config_.rollout.max_new_tokens;
      eval_options_.prompts.max_prompt_tokens = context_length - eval_options_.max_new_tokens;
      eval_options_.samples_per_prompt = config_.eval.samples;
      eval_options_.temperature = config_.eval.temperature;
      eval_options_.limit = config_.eval.limit;
      eval_options_.seed = mix_seed(config_.train.seed, /*a=*/0xe7a1);
      eval_options_.shard_index = rank_;
      eval_options_.shard_count = world_;
      eval_prompts_ = std::make_unique<PromptDataset>(config_.eval.data, *tokenizer_, eval_options_.prompts);
    }
  });
}

void TrainingRun::prepare_run_folder() {
  agree_or_throw(host_, "preparing the run folder", [&] {
    if (rank_ != 0) return;
    if (config_.rollout.spawn_local > 0 && local_size_ != world_) {
      throw InputError(config_.source + ": rollout.spawn_local starts workers on rank 0's host only (127.0.0.1), "
                       "but the ranks span several hosts; start workers yourself and list them in rollout.workers");
    }
    if (!checkpoint_folder_.empty()) {
      for (const auto& folder : set_aside_checkpoints_after(checkpoints_folder_, resumed_.step)) {
        log_warning("resuming from step " + std::to_string(resumed_.step) +
                    ": set aside the later checkpoint as " + folder);
      }
    }
    if (options_.resume.empty() &&
        (path_exists(join_path(run_folder_, "metrics.jsonl")) || path_exists(checkpoints_folder_))) {
      throw InputError("output.dir " + run_folder_ + " already holds a run (metrics.jsonl or checkpoints/); pass "
                       "--resume " + run_folder_ + " to continue it, or choose another output.dir");
    }
    make_directories(join_path(run_folder_, "workers"));
    AtomicFileWriter config_file(join_path(run_folder_, "config.yaml"));
    config_file.stream() << "# deltarl train: the full configuration of this run (every key, defaults included)\n"
                         << training_config_to_yaml(config_);
    config_file.commit();
  });
}

std::unique_ptr<RolloutSource> TrainingRun::start_rollout_workers(const PromptDataset& prompts,
                                                                  uint64_t prompt_cursor) {
  WorkerRolloutsOptions options;
  options.workers = config_.rollout.workers;
  options.spawn_local = config_.rollout.spawn_local;
  options.local_workers.executable = options_.executable;
  options.local_workers.model_folder = model_folder_;
  options.local_workers.threads = config_.rollout.worker_threads;  // ≤ 0: the host's threads, shared
  options.local_workers.max_batch = config_.rollout.worker_max_batch;
  options.local_workers.kv_cache_memory = config_.rollout.worker_kv_cache_memory;
  options.local_workers.cuda_graphs = config_.rollout.worker_cuda_graphs;
  options.local_workers.device = config_.rollout.worker_device;
  // This host's learner ranks and the workers they spawn share its memory.
  const char* local_ranks = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  options.local_workers.processes_per_host =
      (local_ranks != nullptr ? std::max<int64_t>(1, std::atoll(local_ranks)) : 1) + config_.rollout.spawn_local;
  options.local_workers.log_folder = join_path(run_folder_, "workers");
  options.auth_token_file = config_.rollout.auth_token_file;
  options.deadline_seconds = config_.rollout.deadline_seconds;
  options.rollouts.prompts_per_step = config_.train.prompts_per_step;
  options.rollouts.samples_per_prompt = static_cast<int32_t>(config_.rollout.samples_per_prompt);
  options.rollouts.sampling.set_temperature(config_.rollout.temperature);
  options.rollouts.sampling.set_top_p(config_.rollout.top_p);
  options.rollouts.sampling.set_max_new_tokens(static_cast<int32_t>(config_.rollout.max_new_tokens));
  options.rollouts.seed = config_.train.seed;
  options.rollouts.filter_equal_rewards = config_.rollout.filter_equal_rewards;
  options.rollouts.max_refill_rounds = config_.rollout.max_refill_rounds;
  options.shuffle_prompts = config_.data.shuffle;
  options.sampler_cursor = prompt_cursor;
  return start_worker_rollouts(options, prompts, host_);
}

void TrainingRun::open_metrics() {
  agree_or_throw(host_, "opening the metrics files", [&] {
    if (rank_ != 0) return;
    metrics_ = std::make_unique<MetricsLog>(join_path(run_folder_, "metrics.jsonl"), resumed_.step);
    if (config_.output.tensorboard) {
      board_ = std::make_unique<TensorBoardWriter>(join_path(run_folder_, "tensorboard"),
                                                   resumed_.step > 0 ? resumed_.step + 1 : 0);
    }
  });
}

}  // namespace deltarl
