// One learner step (the production run_step_updates: forward, backward, AdamW)
// on a model of a preset's shapes with random weights and random samples, with
// the learner-memory switches as given. Prints one JSON object: the process's
// peak resident memory, the model state (weights, gradients, optimizer), what
// the process held before the model, the step's learner tokens/s, and the
// peak that `deltarl plan` predicts for the same settings (trainer/preflight).
// bench/run_learner_memory_benchmark.sh runs it once per setting, each in its
// own process (a peak RSS is per process), and sets them beside the
// features-off run of the same invocation.
//
//   learner_memory_bench --preset qwen2.5-0.5b --samples 4 --prompt 64 --response 960
//       [--dtype float32|bfloat16] [--micro-batch-size 8] [--micro-batch-tokens 0]
//       [--logits-chunk-tokens 0] [--activation-checkpointing 0|1] [--threads 0] [--seed 1]
//
// Responses are drawn uniformly in [response/2, response] tokens (the budget's
// micro-batches then differ in length); prompts are exactly --prompt tokens.
#include <sys/resource.h>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <string>

#include "core/model/causal_lm.h"
#include "core/tensor_memory_reuse.h"
#include "trainer/algorithm/step_updates.h"
#include "trainer/comm/single_process_communicator.h"
#include "trainer/preflight/memory_plan.h"
#include "trainer/run/training_config.h"

namespace {

int64_t peak_resident_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

int64_t bytes_of(const std::vector<torch::Tensor>& tensors) {
  int64_t bytes = 0;
  for (const auto& tensor : tensors) bytes += tensor.defined() ? tensor.numel() * tensor.element_size() : 0;
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace deltarl;
  keep_freed_tensor_memory();  // as the deltarl binary does
  std::map<std::string, std::string> args = {{"--preset", "qwen2.5-0.5b"},      {"--samples", "4"},
                                             {"--prompt", "64"},                {"--response", "960"},
                                             {"--dtype", "float32"},            {"--micro-batch-size", "8"},
                                             {"--micro-batch-tokens", "0"},     {"--logits-chunk-tokens", "0"},
                                             {"--activation-checkpointing", "0"}, {"--threads", "0"},
                                             {"--seed", "1"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (args.count(argv[i]) == 0) {
      std::cerr << "learner_memory_bench: unknown option " << argv[i] << "\n";
      return 2;
    }
    args[argv[i]] = argv[i + 1];
  }
  auto integer = [&](const char* key) { return std::stoll(args.at(key)); };
  if (integer("--threads") > 0) torch::set_num_threads(static_cast<int>(integer("--threads")));
  const int64_t before_model = peak_resident_bytes();

  torch::manual_seed(static_cast<uint64_t>(integer("--seed")));
  const ModelConfig config = ModelConfig::preset(args.at("--preset"));
  CausalLM model(config);
  if (args.at("--dtype") == "bfloat16") model->to(torch::kBFloat16);
  model->model->activation_checkpointing = integer("--activation-checkpointing") != 0;
  AdamW optimizer(model->named_parameters(), AdamWOptions{});

  PolicyUpdateOptions options;
  options.aggregation.mode = AggregationMode::kDeltaL;
  options.aggregation.alpha = 1.0;
  options.aggregation.max_response_length = integer("--response");
  options.micro_batching.size = integer("--micro-batch-size");
  options.micro_batching.token_budget = integer("--micro-batch-tokens");
  options.logits_chunk_tokens = integer("--logits-chunk-tokens");
  PolicyUpdater updater(model, nullptr, optimizer, options);

  // One group per two samples, rewards 0/1 in every group: a real gradient.
  std::mt19937_64 random(static_cast<uint64_t>(integer("--seed")));
  const int64_t num_samples = integer("--samples"), response = integer("--response");
  std::vector<RolloutSample> samples;
  int64_t response_tokens = 0, padded_tokens = 0;
  for (int64_t i = 0; i < num_samples; ++i) {
    RolloutSample sample;
    sample.group = i / 2;
    sample.sample_index = static_cast<int32_t>(i % 2);
    sample.prompt_ids.resize(static_cast<size_t>(integer("--prompt")));
    const int64_t length = response / 2 + static_cast<int64_t>(random() % static_cast<uint64_t>(response / 2 + 1));
    sample.response_ids.resize(static_cast<size_t>(length));
    for (auto& id : sample.prompt_ids) id = static_cast<int32_t>(random() % static_cast<uint64_t>(config.vocab_size));
    for (auto& id : sample.response_ids) id = static_cast<int32_t>(random() % static_cast<uint64_t>(config.vocab_size));
    sample.rollout_log_probs.assign(sample.response_ids.size(), -5.0f);
    sample.reward = static_cast<double>(i % 2);
    response_tokens += length;
    samples.push_back(std::move(sample));
  }
  for (const auto& sample : samples) padded_tokens = std::max(padded_tokens, sample.tokens());
  const int64_t groups = (num_samples + 1) / 2;

  SingleProcessCommunicator communicator;
  StepStatistics statistics = StepStatistics::of_samples(samples, groups, options.aggregation.alpha);
  statistics.all_reduce(communicator);
  const auto started = std::chrono::steady_clock::now();
  // Where the peak is reached: the process's peak as each phase ends (the
  // next begins), so a phase's entry is the peak up to and including it.
  std::vector<std::pair<std::string, int64_t>> peak_by_phase;
  std::string current_phase = "set-up";
  StepUpdatesObserver observer;
  observer.phase = [&](const char* phase) {
    peak_by_phase.emplace_back(current_phase, peak_resident_bytes());
    current_phase = phase;
  };
  const StepUpdatesResult result =
      run_step_updates(updater, communicator, samples, statistics, /*step=*/1, 1e-6, observer);
  peak_by_phase.emplace_back(current_phase, peak_resident_bytes());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::vector<torch::Tensor> optimizer_state;
  for (const auto& [name, tensor] : optimizer.state_tensors()) optimizer_state.push_back(tensor);
  // The gradients are FlatGradients' fp32 buffer whatever the dtype (the fp32
  // .grads are views of it; bf16 parameters hold none after the fold), kept
  // after the step at ZeRO stage 0, which this benchmark runs.
  const int64_t weights = bytes_of(model->parameters());
  const int64_t gradient_bytes = bytes_of({updater.flat_gradients().full()});
  const int64_t optimizer_bytes = bytes_of(optimizer_state);
  const int64_t peak = peak_resident_bytes();
  const int64_t model_state = weights + gradient_bytes + optimizer_bytes;

  // The plan for these settings: its worst micro-batch is the longest sample's
  // (prompt + response) at the most rows the settings allow.
  TrainingConfig planned;
  planned.model.dtype = args.at("--dtype");
  planned.rollout.max_new_tokens = response;
  planned.train.micro_batch_size = std::min<int64_t>(integer("--micro-batch-size"), num_samples);
  planned.train.micro_batch_tokens = integer("--micro-batch-tokens");
  planned.train.logits_chunk_tokens = integer("--logits-chunk-tokens");
  planned.train.activation_checkpointing = integer("--activation-checkpointing") != 0;
  MemoryPlanOptions plan_options;
  plan_options.prompt_tokens = integer("--prompt");
  plan_options.limit_bytes = peak;  // only the prediction is read
  const int64_t plan_peak = plan_memory(config, planned, plan_options).per_rank_peak_bytes;
  std::cout << "{\"preset\": \"" << args.at("--preset") << "\", \"dtype\": \"" << args.at("--dtype")
            << "\", \"samples\": " << num_samples << ", \"prompt\": " << integer("--prompt")
            << ", \"response\": " << response << ", \"micro_batch_size\": " << integer("--micro-batch-size")
            << ", \"micro_batch_tokens\": " << integer("--micro-batch-tokens")
            << ", \"logits_chunk_tokens\": " << integer("--logits-chunk-tokens")
            << ", \"activation_checkpointing\": " << (integer("--activation-checkpointing") != 0 ? "true" : "false")
            << ", \"response_tokens\": " << response_tokens << ", \"longest_sample_tokens\": " << padded_tokens
            << ", \"peak_rss_bytes\": " << peak << ", \"before_model_rss_bytes\": " << before_model
            << ", \"weights_bytes\": " << weights << ", \"gradients_bytes\": " << gradient_bytes
            << ", \"optimizer_bytes\": " << optimizer_bytes << ", \"model_state_bytes\": " << model_state
            << ", \"above_model_state_bytes\": " << (peak - before_model - model_state)
            << ", \"plan_peak_bytes\": " << plan_peak
            << ", \"peak_over_plan\": " << static_cast<double>(peak) / static_cast<double>(plan_peak)
            << ", \"peak_rss_bytes_after_phase\": [";
  for (size_t i = 0; i < peak_by_phase.size(); ++i) {
    std::cout << (i ? ", " : "") << "[\"" << peak_by_phase[i].first << "\", " << peak_by_phase[i].second << "]";
  }
  std::cout << "], \"step_seconds\": " << seconds << ", \"learner_tokens_per_second\": "
            << static_cast<double>(response_tokens) / seconds << ", \"loss\": " << result.totals.loss << "}\n";
  return 0;
}
