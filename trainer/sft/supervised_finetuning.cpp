#include "trainer/sft/supervised_finetuning.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <optional>
#include <random>

#include <torch/torch.h>

#include "core/compute_threads.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/jsonl_reader.h"
#include "core/model/hf_checkpoint.h"
#include "core/tokenizer/tokenizer.h"
#include "trainer/algorithm/adamw.h"
#include "trainer/algorithm/learning_rate_schedule.h"
#include "trainer/prompts/prompt_sampler.h"

namespace deltarl {

namespace {

struct Example {
  std::vector<int64_t> ids;  // prompt + response + eos
  int64_t prompt_length = 0;
};

// bos: prepended to a prompt that does not start with it (Llama's
// <|begin_of_text|>, as its tokenizer's post-processor adds it in transformers).
std::vector<Example> read_examples(const std::string& path, const Tokenizer& tokenizer, int64_t eos,
                                   std::optional<int64_t> bos, int64_t context) {
  std::ifstream input(path);
  if (!input) throw InputError(path + ": cannot read the SFT data (does the file exist?)");
  JsonlReader reader(input, path);
  std::vector<Example> examples;
  while (auto line = reader.next()) {
    for (const char* field : {"prompt", "response"}) {
      if (!line->value.contains(field) || !line->value[field].is_string()) {
        throw InputError(reader.where() + ": \"" + std::string(field) + "\" must be a string");
      }
    }
    Example example;
    for (int32_t id : tokenizer.encode(line->value["prompt"].get<std::string>())) example.ids.push_back(id);
    if (bos && !example.ids.empty() && example.ids.front() != *bos) example.ids.insert(example.ids.begin(), *bos);
    example.prompt_length = static_cast<int64_t>(example.ids.size());
    const auto response = tokenizer.encode(line->value["response"].get<std::string>());
    if (example.prompt_length == 0 || response.empty()) {
      throw InputError(reader.where() + ": the prompt and the response must not be empty");
    }
    example.ids.insert(example.ids.end(), response.begin(), response.end());
    example.ids.push_back(eos);
    if (static_cast<int64_t>(example.ids.size()) > context) {
      throw InputError(reader.where() + ": " + std::to_string(example.ids.size()) +
                       " tokens, more than the model's context of " + std::to_string(context));
    }
    examples.push_back(std::move(example));
  }
  if (examples.empty()) throw InputError(path + ": no examples");
  return examples;
}

}  // namespace

void SftOptions::validate() const {
  if (model_folder.empty() || data_path.empty() || out_folder.empty()) {
    throw InputError("sft needs --model, --data and --out");
  }
  if (epochs < 1) throw InputError("--epochs must be ≥ 1");
  if (batch_size < 1) throw InputError("--batch-size must be ≥ 1");
  if (!(lr > 0)) throw InputError("--lr must be > 0");
  if (warmup_ratio < 0 || warmup_ratio > 1) throw InputError("--warmup-ratio must be in [0, 1]");
  if (min_lr_ratio < 0 || min_lr_ratio > 1) throw InputError("--min-lr-ratio must be in [0, 1]");
}

SftResult run_supervised_finetuning(const SftOptions& options, const std::function<void(const SftProgress&)>& on_step) {
  options.validate();
  if (path_exists(options.out_folder)) {
    throw InputError("--out " + options.out_folder + " already exists; choose a new folder (nothing is overwritten)");
  }
  torch::set_num_threads(options.threads > 0 ? static_cast<int>(options.threads) : available_cpus());
  const std::string tokenizer_path = join_path(options.model_folder, "tokenizer.json");
  const Tokenizer tokenizer = Tokenizer::from_file(tokenizer_path);
  CausalLM model = load_pretrained(options.model_folder);
  if (model->config().eos_token_ids.empty()) {
    throw InputError(options.model_folder + "/config.json has no eos_token_id: SFT needs one to teach stopping");
  }
  const ModelConfig& config = model->config();
  const std::optional<int64_t> bos =
      config.family == ModelFamily::kLlama ? config.bos_token_id : std::optional<int64_t>();
  const std::vector<Example> examples =
      read_examples(options.data_path, tokenizer, config.eos_token_ids[0], bos, config.max_position_embeddings);

  AdamWOptions adamw;
  adamw.weight_decay = options.weight_decay;
  AdamW optimizer(model->named_parameters(), adamw);
  const int64_t steps_per_epoch = (static_cast<int64_t>(examples.size()) + options.batch_size - 1) / options.batch_size;
  const int64_t total_steps = steps_per_epoch * options.epochs;
  const LearningRateSchedule schedule{options.lr, static_cast<int64_t>(options.warmup_ratio * total_steps), total_steps,
                                      options.min_lr_ratio};
  PromptSampler order(examples.size(), options.seed, /*shuffle=*/true);
  std::vector<double> losses;
  const auto started = std::chrono::steady_clock::now();
  model->train();
  for (int64_t step = 1; step <= total_steps; ++step) {
    const auto step_started = std::chrono::steady_clock::now();
    const int64_t in_epoch = (step - 1) % steps_per_epoch;
    const int64_t batch = std::min<int64_t>(options.batch_size, static_cast<int64_t>(examples.size()) -
                                                                    in_epoch * options.batch_size);
    const std::vector<uint64_t> indices = order.draw(static_cast<uint64_t>(batch));
    int64_t longest = 0;
    for (uint64_t index : indices) longest = std::max<int64_t>(longest, static_cast<int64_t>(examples[index].ids.size()));
    // Inputs (b, s-1) and targets (b, s-1), right-padded; targets -100 outside responses.
    std::vector<int64_t> inputs(batch * (longest - 1), 0), mask(inputs.size(), 0), targets(inputs.size(), -100);
    for (int64_t i = 0; i < batch; ++i) {
      const Example& example = examples[indices[i]];
      const auto length = static_cast<int64_t>(example.ids.size());
      for (int64_t t = 0; t + 1 < length; ++t) {
        inputs[i * (longest - 1) + t] = example.ids[t];
        mask[i * (longest - 1) + t] = 1;
        if (t + 1 >= example.prompt_length) targets[i * (longest - 1) + t] = example.ids[t + 1];
      }
    }
    const torch::Tensor input_ids = torch::from_blob(inputs.data(), {batch, longest - 1}, torch::kInt64).clone();
    const torch::Tensor attention = torch::from_blob(mask.data(), {batch, longest - 1}, torch::kInt64).clone();
    const torch::Tensor labels = torch::from_blob(targets.data(), {batch * (longest - 1)}, torch::kInt64).clone();
    optimizer.zero_grad();
    const torch::Tensor logits = model->forward(input_ids, attention);  // (b, s-1, vocab) fp32
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.reshape({batch * (longest - 1), -1}), labels,
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
    if (!std::isfinite(loss.item<double>())) throw std::runtime_error("SFT loss is not finite at step " + std::to_string(step));
    loss.backward();
    {
      torch::NoGradGuard no_grad;
      double square_sum = 0;
      for (const auto& parameter : model->parameters()) {
        if (parameter.grad().defined()) square_sum += parameter.grad().to(torch::kFloat64).square().sum().item<double>();
      }
      const double norm = std::sqrt(square_sum);
      if (options.grad_clip > 0 && norm > options.grad_clip) {
        for (auto& parameter : model->parameters()) {
          if (parameter.grad().defined()) parameter.mutable_grad().mul_(options.grad_clip / (norm + 1e-6));
        }
      }
    }
    optimizer.step(schedule.at(step));
    losses.push_back(loss.item<double>());
    if (on_step) {
      SftProgress progress;
      progress.step = step;
      progress.total_steps = total_steps;
      progress.loss = losses.back();
      progress.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const double step_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_started).count();
      progress.tokens_per_second = static_cast<double>(batch * (longest - 1)) / std::max(step_seconds, 1e-9);
      on_step(progress);
    }
  }
  make_directories(options.out_folder);
  save_pretrained(model, options.out_folder);
  copy_file(tokenizer_path, join_path(options.out_folder, "tokenizer.json"));

  SftResult result;
  result.steps = total_steps;
  const size_t tail = std::max<size_t>(1, losses.size() / 10);
  result.final_loss = std::accumulate(losses.end() - tail, losses.end(), 0.0) / static_cast<double>(tail);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace deltarl
