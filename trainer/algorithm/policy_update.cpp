#include "trainer/algorithm/policy_update.h"

#include <cmath>

#include <torch/torch.h>

#include "core/model/token_log_probs.h"

namespace deltarl {

std::vector<std::vector<const RolloutSample*>> micro_batches(const std::vector<RolloutSample>& samples,
                                                             int64_t size) {
  std::vector<std::vector<const RolloutSample*>> batches;
  for (size_t begin = 0; begin < samples.size(); begin += static_cast<size_t>(size)) {
    std::vector<const RolloutSample*>& batch = batches.emplace_back();
    for (size_t i = begin; i < std::min(samples.size(), begin + static_cast<size_t>(size)); ++i) {
      batch.push_back(&samples[i]);
    }
  }
  return batches;
}

PolicyUpdater::PolicyUpdater(Qwen2ForCausalLM& model, Qwen2ForCausalLM* reference, AdamW& optimizer,
                             PolicyUpdateOptions options)
    : model_(model), reference_(reference), optimizer_(optimizer), options_(std::move(options)) {
  for (auto& parameter : model_->parameters()) parameters_.push_back(parameter);
}

void PolicyUpdater::start() {
  model_->train();
  optimizer_.zero_grad();
}

std::vector<torch::Tensor> PolicyUpdater::gradients() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> gradients;
  for (auto& parameter : parameters_) {
    if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
    gradients.push_back(parameter.grad());
  }
  return gradients;
}

void PolicyUpdater::clip_and_step(const std::vector<torch::Tensor>& gradients, double learning_rate,
                                  PolicyUpdateResult* result) {
  torch::NoGradGuard no_grad;
  double square_sum = 0;
  for (const auto& gradient : gradients) square_sum += gradient.to(torch::kFloat64).square().sum().item<double>();
  result->grad_norm = std::sqrt(square_sum);
  if (!std::isfinite(result->grad_norm)) {
    result->skipped = true;
    optimizer_.zero_grad();
    return;
  }
  if (options_.grad_clip > 0 && result->grad_norm > options_.grad_clip) {
    const double scale = options_.grad_clip / (result->grad_norm + 1e-6);
    for (const auto& gradient : gradients) gradient.mul_(scale);
  }
  optimizer_.step(learning_rate);
}

void PolicyUpdater::accumulate(const std::vector<const RolloutSample*>& batch, const LossWeightTable& weights,
                               const AdvantageTable& advantages, PolicyUpdateResult* result_out) {
  PolicyUpdateResult& result = *result_out;
  const auto batch_size = static_cast<int64_t>(batch.size());
  int64_t longest_sequence = 0, longest_response = 0;
  for (const auto* sample : batch) {
    longest_sequence = std::max(longest_sequence, sample->tokens());
    longest_response = std::max<int64_t>(longest_response, static_cast<int64_t>(sample->response_ids.size()));
  }
  // Right-padded prompt+response; position (prompt_length - 1 + t) predicts response token t.
  std::vector<int64_t> input_ids_host(batch_size * longest_sequence, 0), attention_host(input_ids_host.size(), 0);
  std::vector<int64_t> positions_host(batch_size * longest_response, 0), targets_host(positions_host.size(), 0);
  std::vector<float> mask_host(positions_host.size(), 0.0f), rollout_host(positions_host.size(), 0.0f);
  std::vector<double> weights_host(batch_size);
  std::vector<float> advantages_host(batch_size);
  for (int64_t i = 0; i < batch_size; ++i) {
    const RolloutSample& sample = *batch[i];
    const auto prompt_length = static_cast<int64_t>(sample.prompt_ids.size());
    const auto response_length = static_cast<int64_t>(sample.response_ids.size());
    int64_t* ids = input_ids_host.data() + i * longest_sequence;
    std::copy(sample.prompt_ids.begin(), sample.prompt_ids.end(), ids);
    std::copy(sample.response_ids.begin(), sample.response_ids.end(), ids + prompt_length);
    std::fill_n(attention_host.data() + i * longest_sequence, prompt_length + response_length, 1);
    for (int64_t t = 0; t < response_length; ++t) {
      const int64_t at = i * longest_response + t;
      positions_host[at] = prompt_length - 1 + t;
      targets_host[at] = sample.response_ids[t];
      mask_host[at] = 1.0f;
      rollout_host[at] = sample.rollout_log_probs[t];
    }
    weights_host[i] = weights(sample.group, std::max<int64_t>(response_length, 1));
    advantages_host[i] = static_cast<float>(advantages(sample.group, sample.reward));
  }
  auto as_tensor = [](auto& values, std::vector<int64_t> shape, torch::ScalarType dtype) {
    return torch::from_blob(values.data(), shape, dtype).clone();
  };
  torch::Tensor input_ids = as_tensor(input_ids_host, {batch_size, longest_sequence}, torch::kInt64);       // (b, s)
  torch::Tensor attention_mask = as_tensor(attention_host, {batch_size, longest_sequence}, torch::kInt64);  // (b, s)
  torch::Tensor positions = as_tensor(positions_host, {batch_size, longest_response}, torch::kInt64);       // (b, r)
  torch::Tensor targets = as_tensor(targets_host, {batch_size, longest_response}, torch::kInt64);           // (b, r)
  torch::Tensor mask = as_tensor(mask_host, {batch_size, longest_response}, torch::kFloat32);               // (b, r)
  torch::Tensor rollout_log_probs = as_tensor(rollout_host, {batch_size, longest_response}, torch::kFloat32);
  torch::Tensor sample_weights = as_tensor(weights_host, {batch_size}, torch::kFloat64);                    // (b,)
  torch::Tensor sample_advantages = as_tensor(advantages_host, {batch_size}, torch::kFloat32);              // (b,)
  const torch::Device device = model_->parameters().front().device();
  input_ids = input_ids.to(device);
  attention_mask = attention_mask.to(device);
  positions = positions.to(device);
  targets = targets.to(device);
  mask = mask.to(device);
  rollout_log_probs = rollout_log_probs.to(device);

  auto response_logits = [&](Qwen2ForCausalLM& model) {
    torch::Tensor hidden = model->hidden_states(input_ids, attention_mask);                 // (b, s, h)
    torch::Tensor picked = hidden.gather(1, positions.unsqueeze(-1).expand({-1, -1, hidden.size(2)}));  // (b, r, h)
    return model->logits_from_hidden(picked);                                                // (b, r, vocab) fp32
  };
  const torch::Tensor logits = response_logits(model_);
  const torch::Tensor log_probs = token_log_probs(logits, targets, options_.temperature);  // (b, r)
  torch::Tensor reference_log_probs;
  if (reference_ != nullptr) {
    torch::NoGradGuard no_grad;
    reference_log_probs = token_log_probs(response_logits(*reference_), targets, options_.temperature);
  }
  torch::Tensor entropy;
  if (options_.loss.entropy_coef != 0) {
    entropy = token_entropy(logits, options_.temperature);
  } else {
    torch::NoGradGuard no_grad;
    entropy = token_entropy(logits.detach(), options_.temperature);
  }
  const torch::Tensor old_log_probs = options_.old_log_probs_from_rollout ? rollout_log_probs : log_probs.detach();
  PolicyLoss loss = policy_loss(log_probs, old_log_probs, reference_log_probs,
                                options_.loss.entropy_coef != 0 ? entropy : torch::Tensor(), mask,
                                sample_advantages.to(device), sample_weights.to(device), options_.loss);
  loss.loss.backward();

  torch::NoGradGuard no_grad;
  const torch::Tensor mismatch = (log_probs.detach() - rollout_log_probs).abs() * mask;
  result.tokens += mask.sum().item<double>();
  result.clipped_tokens += loss.clipped_tokens;
  result.entropy_sum += (entropy.detach() * mask).sum().item<double>();
  result.kl_sum += loss.kl_sum;
  result.mismatch_sum += mismatch.sum().item<double>();
  result.mismatch_max = std::max(result.mismatch_max, mismatch.numel() ? mismatch.max().item<double>() : 0.0);
  result.ratio_max = std::max(result.ratio_max, loss.ratio_max);
  result.loss += loss.loss.item<double>();
}

}  // namespace deltarl
