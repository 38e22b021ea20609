#include "trainer/gradstats/live_study.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "core/input_error.h"
#include "core/model/text_generator.h"
#include "core/model/token_log_probs.h"
#include "core/tasks/task_verifier.h"
#include "core/tokenizer/response_text.h"
#include "trainer/algorithm/loss_aggregation.h"
#include "trainer/prompts/prompt_sampler.h"
#include "trainer/comm/single_process_communicator.h"

namespace deltarl {

namespace {

struct Response {
  int64_t group = 0;
  std::vector<int64_t> ids;  // prompt + response
  int64_t prompt_length = 0;
  int64_t length = 0;
  double reward = 0;
};

// A CountSketch of the gradient: coordinate j of each parameter goes to bucket
// h(j) with sign s(j). E‖S g‖² = ‖g‖², so variances are kept in expectation,
// and the sketch costs one index and one sign per parameter, not K of them.
struct CountSketch {
  std::vector<torch::Tensor> buckets;  // per parameter, (numel,) int64 in [0, K)
  std::vector<torch::Tensor> signs;    // per parameter, (numel,) float64 ±1
  int64_t dimensions = 0;
};

// ∇θ Σ_t log π(y_t) of one response, sketched: (K,) float64.
torch::Tensor sketched_gradient(CausalLM& model, const std::vector<torch::Tensor>& parameters,
                                const CountSketch& sketch, const Response& response, double temperature) {
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) parameter.mutable_grad().zero_();
  }
  const torch::Tensor input = torch::tensor(response.ids).unsqueeze(0);
  const torch::Tensor logits = model->forward(input).squeeze(0);  // (s, vocab)
  const torch::Tensor targets = input.squeeze(0).narrow(0, response.prompt_length, response.length);
  token_log_probs(logits.narrow(0, response.prompt_length - 1, response.length), targets, temperature)
      .sum()
      .backward();
  torch::NoGradGuard no_grad;
  torch::Tensor projected = torch::zeros({sketch.dimensions}, torch::kFloat64);
  for (size_t p = 0; p < parameters.size(); ++p) {
    if (!parameters[p].grad().defined()) continue;
    projected.index_add_(0, sketch.buckets[p], parameters[p].grad().reshape({-1}).to(torch::kFloat64) * sketch.signs[p]);
  }
  return projected;
}

std::vector<AggregationConfig> compared_modes(double max_length, std::vector<std::string>* labels) {
  std::vector<AggregationConfig> modes;
  auto add = [&](AggregationMode mode, double alpha, const std::string& label) {
    AggregationConfig config;
    config.mode = mode;
    config.alpha = alpha;
    config.max_response_length = max_length;
    modes.push_back(config);
    labels->push_back(label);
  };
  add(AggregationMode::kSeqMeanTokenMean, 1, "GRPO");
  add(AggregationMode::kTokenMean, 1, "DAPO");
  add(AggregationMode::kSeqMeanTokenSumNorm, 1, "Dr. GRPO");
  for (double alpha : {0.5, 0.75, 1.0}) {
    char label[32];
    std::snprintf(label, sizeof(label), "dL a=%g", alpha);
    add(AggregationMode::kDeltaL, alpha, label);
  }
  return modes;
}

}  // namespace

void LiveStudyOptions::validate() const {
  if (prompts_count < 2) throw InputError("--prompts must be ≥ 2");
  if (samples_per_prompt < 2) throw InputError("--samples must be ≥ 2 (advantages need a group)");
  if (!(temperature > 0)) throw InputError("--temperature must be > 0 (the study needs sampled responses)");
  if (max_new_tokens < 1) throw InputError("--max-new-tokens must be ≥ 1");
  if (sketch_dimensions < 1) throw InputError("--sketch must be ≥ 1");
  if (length_bins < 2) throw InputError("--bins must be ≥ 2");
  if (groups_per_batch < 1 || bootstrap_batches < 2) throw InputError("--batch-groups ≥ 1 and --bootstrap ≥ 2");
}

LiveStudyResult run_live_study(CausalLM& model, const Tokenizer& tokenizer, const std::string& data_path,
                               const LiveStudyOptions& options) {
  options.validate();
  PromptDatasetOptions prompt_options = options.prompts;
  prompt_options.max_prompt_tokens = model->config().max_position_embeddings - options.max_new_tokens;
  const PromptDataset dataset(data_path, tokenizer, prompt_options);
  PromptSampler sampler(dataset.size(), options.seed, /*shuffle=*/true);
  const auto chosen = sampler.draw(static_cast<uint64_t>(std::min<int64_t>(options.prompts_count, dataset.size())));

  // 1. Responses, scored.
  GenerationOptions generation;
  generation.sampling.temperature = options.temperature;
  generation.max_new_tokens = options.max_new_tokens;
  generation.stop_token_ids = model->config().eos_token_ids;
  std::vector<Response> responses;
  {
    torch::NoGradGuard no_grad;
    model->eval();
    model->prepare_inference(LinearForm::kFused);
    for (size_t g = 0; g < chosen.size(); ++g) {
      const PromptRecord& record = dataset[chosen[g]];
      const TaskVerifier verifier = TaskVerifier::parse(record.task, record.task_payload_json, data_path);
      const std::vector<int64_t> prompt(record.token_ids.begin(), record.token_ids.end());
      std::vector<std::vector<int64_t>> batch(options.samples_per_prompt, prompt);
      std::vector<uint64_t> seeds;
      for (int64_t k = 0; k < options.samples_per_prompt; ++k) seeds.push_back(mix_seed(options.seed, g, k));
      for (const auto& generated : generate(model, batch, seeds, generation)) {
        Response response;
        response.group = static_cast<int64_t>(g);
        response.ids = prompt;
        response.ids.insert(response.ids.end(), generated.tokens.begin(), generated.tokens.end());
        response.prompt_length = static_cast<int64_t>(prompt.size());
        response.length = static_cast<int64_t>(generated.tokens.size());
        response.reward = verifier.score(response_text(tokenizer, generated.tokens, model->config().vocab_size)).reward;
        responses.push_back(std::move(response));
      }
    }
  }

  // 2. Sketched per-response gradients: (n, K).
  std::vector<torch::Tensor> parameters;
  CountSketch sketch;
  sketch.dimensions = options.sketch_dimensions;
  torch::Generator generator = at::detail::createCPUGenerator(mix_seed(options.seed, /*a=*/0x5ce7));
  for (auto& parameter : model->parameters()) {
    parameters.push_back(parameter);
    sketch.buckets.push_back(torch::randint(options.sketch_dimensions, {parameter.numel()}, generator, torch::kInt64));
    sketch.signs.push_back(torch::randint(2, {parameter.numel()}, generator, torch::kFloat64) * 2 - 1);
  }
  model->train();
  const auto n = static_cast<int64_t>(responses.size());
  torch::Tensor gradients = torch::zeros({n, options.sketch_dimensions}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    gradients[i] = sketched_gradient(model, parameters, sketch, responses[i], options.temperature);
  }
  model->eval();

  LiveStudyResult result;
  result.samples = n;
  for (const auto& response : responses) {
    result.lengths.push_back(response.length);
    result.mean_reward += response.reward / static_cast<double>(n);
  }
  const torch::Tensor squared_norms = gradients.square().sum(1);
  for (int64_t i = 0; i < n; ++i) result.squared_norms.push_back(squared_norms[i].item<double>());

  // 3. Variance by length bin (quantiles), and the log-log fit.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return responses[a].length < responses[b].length; });
  std::vector<double> xs, ys;
  for (int64_t b = 0; b < options.length_bins; ++b) {
    const int64_t begin = b * n / options.length_bins, end = (b + 1) * n / options.length_bins;
    if (end - begin < 2) continue;
    std::vector<int64_t> members(order.begin() + begin, order.begin() + end);
    const torch::Tensor index = torch::tensor(members);
    const torch::Tensor bin = gradients.index_select(0, index);
    LengthBin length_bin;
    length_bin.samples = end - begin;
    for (int64_t i : members) length_bin.mean_length += static_cast<double>(responses[i].length) / length_bin.samples;
    // Unbiased: Σ‖g − ḡ‖² / (n − 1).
    length_bin.gradient_variance =
        (bin - bin.mean(0, /*keepdim=*/true)).square().sum().item<double>() / static_cast<double>(length_bin.samples - 1);
    result.bins.push_back(length_bin);
    if (length_bin.gradient_variance > 0) {
      xs.push_back(std::log(length_bin.mean_length));
      ys.push_back(std::log(length_bin.gradient_variance));
    }
  }
  if (xs.size() < 2 || *std::max_element(xs.begin(), xs.end()) == *std::min_element(xs.begin(), xs.end())) {
    throw InputError("the responses' lengths barely vary (" + std::to_string(xs.size()) +
                     " usable bins): more prompts, samples or max_new_tokens are needed to fit Var ∝ L^β");
  }
  const double mx = std::accumulate(xs.begin(), xs.end(), 0.0) / xs.size();
  const double my = std::accumulate(ys.begin(), ys.end(), 0.0) / ys.size();
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) * (xs[i] - mx);
    syy += (ys[i] - my) * (ys[i] - my);
  }
  result.beta = sxy / sxx;
  result.r_squared = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
  result.suggested_alpha = std::clamp(result.beta, 0.0, 2.0);

  // 4. Each mode's estimator over bootstrap batches of whole groups.
  const auto groups = static_cast<int64_t>(chosen.size());
  std::vector<std::vector<int64_t>> members_of(groups);
  for (int64_t i = 0; i < n; ++i) members_of[responses[i].group].push_back(i);
  std::vector<std::string> labels;
  const auto modes = compared_modes(static_cast<double>(options.max_new_tokens), &labels);
  std::vector<torch::Tensor> estimates;  // per mode (bootstrap_batches, K); separate storage each
  for (size_t m = 0; m < modes.size(); ++m) {
    estimates.push_back(torch::zeros({options.bootstrap_batches, options.sketch_dimensions}, torch::kFloat64));
  }
  std::mt19937_64 random(mix_seed(options.seed, /*a=*/0xb007));
  SingleProcessCommunicator communicator;
  for (int64_t trial = 0; trial < options.bootstrap_batches; ++trial) {
    std::vector<int64_t> batch_groups;
    for (int64_t k = 0; k < options.groups_per_batch; ++k) batch_groups.push_back(static_cast<int64_t>(random() % groups));
    std::vector<StepStatistics> per_alpha;
    for (const auto& mode : modes) per_alpha.emplace_back(options.groups_per_batch, mode.alpha);
    for (size_t m = 0; m < modes.size(); ++m) {
      for (int64_t k = 0; k < options.groups_per_batch; ++k) {
        for (int64_t i : members_of[batch_groups[k]]) {
          per_alpha[m].add_sample(k, std::max<int64_t>(1, responses[i].length), responses[i].reward);
        }
      }
      per_alpha[m].all_reduce(communicator);
      const LossWeightTable weights(modes[m], per_alpha[m]);
      torch::Tensor estimate = torch::zeros({options.sketch_dimensions}, torch::kFloat64);
      for (int64_t k = 0; k < options.groups_per_batch; ++k) {
        for (int64_t i : members_of[batch_groups[k]]) {
          estimate += weights(k, std::max<int64_t>(1, responses[i].length)) * gradients[i];
        }
      }
      estimates[m][trial] = estimate;
    }
  }
  for (size_t m = 0; m < modes.size(); ++m) {
    ModeVariation variation;
    variation.label = labels[m];
    const torch::Tensor mean = estimates[m].mean(0);
    variation.mean_norm = mean.norm().item<double>();
    const double total_variance = estimates[m].var(0, /*unbiased=*/true).sum().item<double>();
    variation.cv = variation.mean_norm > 0 ? std::sqrt(total_variance) / variation.mean_norm : INFINITY;
    result.modes.push_back(variation);
  }
  return result;
}

}  // namespace deltarl
