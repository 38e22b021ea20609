#include "trainer/algorithm/policy_update.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "core/input_error.h"
#include "core/model/chunked_output_layer.h"
#include "core/model/token_log_probs.h"

namespace deltarl {

void PolicyUpdateOptions::validate() const {
  micro_batching.validate();
  if (logits_chunk_tokens < 0) {
    throw InputError("train.logits_chunk_tokens must be ≥ 0 (0: the whole output layer at once), got " +
                     std::to_string(logits_chunk_tokens));
  }
  if (epochs < 1) throw InputError("algorithm.ppo_epochs must be ≥ 1, got " + std::to_string(epochs));
  if (groups_per_mini_batch < 0) {
    throw InputError("algorithm.ppo_mini_batch_size must be ≥ 0 (0: every group), got " +
                     std::to_string(groups_per_mini_batch));
  }
  if (!(loss.clip_ratio_c > 1)) {
    throw InputError("algorithm.clip_ratio_c must be > 1 (the dual clip bounds ratios above it), got " +
                     std::to_string(loss.clip_ratio_c));
  }
  if (!(rollout_correction.cap > 1) || !std::isfinite(rollout_correction.cap)) {
    throw InputError("algorithm.rollout_correction_cap must be a finite number > 1 (weights are capped at C and "
                     "masked outside [1/C, C]), got " + std::to_string(rollout_correction.cap));
  }
  if (old_log_probs_from_rollout && rollout_correction.mode != RolloutCorrection::kNone) {
    throw InputError(std::string("algorithm.rollout_correction: ") + rollout_correction_name(rollout_correction.mode) +
                     " needs π_old from the learner to compare with the rollout's log-probs, but "
                     "algorithm.old_log_probs is rollout: set algorithm.old_log_probs: learner, or "
                     "algorithm.rollout_correction: none");
  }
}

namespace {

// One micro-batch right-padded for the training forward: position
// (prompt_length - 1 + t) of row i predicts response token t. (b, s) and (b, r) tensors.
struct PaddedBatch {
  torch::Tensor input_ids, attention_mask;    // (b, s) int64
  torch::Tensor positions, targets;           // (b, r) int64
  torch::Tensor mask, rollout_log_probs;      // (b, r) fp32
  torch::Tensor old_log_probs;                // (b, r) fp32; undefined when no sample has them
};

template <typename SamplePointer>
PaddedBatch pad_batch(const std::vector<SamplePointer>& batch, torch::Device device) {
  const auto batch_size = static_cast<int64_t>(batch.size());
  int64_t longest_sequence = 0, longest_response = 0, with_old = 0;
  for (const auto* sample : batch) {
    longest_sequence = std::max(longest_sequence, sample->tokens());
    longest_response = std::max<int64_t>(longest_response, static_cast<int64_t>(sample->response_ids.size()));
    with_old += sample->old_log_probs.empty() ? 0 : 1;
  }
  if (with_old != 0 && with_old != batch_size) {
    throw std::logic_error("PolicyUpdater: a micro-batch mixes samples with and without π_old");
  }
  std::vector<int64_t> input_ids_host(batch_size * longest_sequence, 0), attention_host(input_ids_host.size(), 0);
  std::vector<int64_t> positions_host(batch_size * longest_response, 0), targets_host(positions_host.size(), 0);
  std::vector<float> mask_host(positions_host.size(), 0.0f), rollout_host(positions_host.size(), 0.0f);
  std::vector<float> old_host(with_old ? positions_host.size() : 0, 0.0f);
  for (int64_t i = 0; i < batch_size; ++i) {
    const RolloutSample& sample = *batch[i];
    const auto prompt_length = static_cast<int64_t>(sample.prompt_ids.size());
    const auto response_length = static_cast<int64_t>(sample.response_ids.size());
    if (with_old && static_cast<int64_t>(sample.old_log_probs.size()) != response_length) {
      throw std::logic_error("PolicyUpdater: a sample's π_old has " + std::to_string(sample.old_log_probs.size()) +
                             " log-probs for " + std::to_string(response_length) + " response tokens");
    }
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
      if (with_old) old_host[at] = sample.old_log_probs[t];
    }
  }
  auto as_tensor = [&](auto& values, std::vector<int64_t> shape, torch::ScalarType dtype) {
    return torch::from_blob(values.data(), shape, dtype).clone().to(device);
  };
  PaddedBatch padded;
  padded.input_ids = as_tensor(input_ids_host, {batch_size, longest_sequence}, torch::kInt64);
  padded.attention_mask = as_tensor(attention_host, {batch_size, longest_sequence}, torch::kInt64);
  padded.positions = as_tensor(positions_host, {batch_size, longest_response}, torch::kInt64);
  padded.targets = as_tensor(targets_host, {batch_size, longest_response}, torch::kInt64);
  padded.mask = as_tensor(mask_host, {batch_size, longest_response}, torch::kFloat32);
  padded.rollout_log_probs = as_tensor(rollout_host, {batch_size, longest_response}, torch::kFloat32);
  if (with_old) padded.old_log_probs = as_tensor(old_host, {batch_size, longest_response}, torch::kFloat32);
  return padded;
}

// (b, r, h) hidden states at the positions that predict each response token.
torch::Tensor response_hidden(CausalLM& model, const PaddedBatch& batch) {
  torch::Tensor hidden = model->hidden_states(batch.input_ids, batch.attention_mask);  // (b, s, h)
  return hidden.gather(1, batch.positions.unsqueeze(-1).expand({-1, -1, hidden.size(2)}));
}

struct ResponseTokens {
  torch::Tensor log_probs;  // (b, r) fp32, differentiable when gradients are on
  torch::Tensor entropy;    // (b, r) fp32 unless Entropy::kNone; differentiable only with kDifferentiable
};

enum class Entropy { kNone, kMetric, kDifferentiable };

// The response tokens' log-probs and entropies under `model`: through the
// full (b, r, vocab) logits, or with chunk_tokens > 0 through the chunked
// output layer, which never holds them (core/model/chunked_output_layer.h)
// and, given output_weight_gradient, adds the output weight's gradient there.
ResponseTokens response_tokens(CausalLM& model, const PaddedBatch& batch, double temperature,
                               int64_t chunk_tokens, Entropy entropy,
                               const torch::Tensor& output_weight_gradient = {}) {
  const torch::Tensor hidden = response_hidden(model, batch);
  if (chunk_tokens > 0) {
    ChunkedTokenOutputs out = chunked_output_layer(hidden, model->output_weight(), batch.targets, temperature,
                                                   chunk_tokens, output_weight_gradient);
    return {out.log_probs, entropy == Entropy::kDifferentiable ? out.entropy : out.entropy.detach()};
  }
  const torch::Tensor logits = model->logits_from_hidden(hidden);
  ResponseTokens tokens;
  tokens.log_probs = token_log_probs(logits, batch.targets, temperature);
  if (entropy == Entropy::kDifferentiable) {
    tokens.entropy = token_entropy(logits, temperature);
  } else if (entropy == Entropy::kMetric) {
    torch::NoGradGuard no_grad;
    tokens.entropy = token_entropy(logits.detach(), temperature);
  }
  return tokens;
}

}  // namespace


PolicyUpdater::PolicyUpdater(CausalLM& model, CausalLM* reference, AdamW& optimizer,
                             PolicyUpdateOptions options)
    : model_(model),
      reference_(reference),
      optimizer_(optimizer),
      options_(std::move(options)),
      gradients_(optimizer.parameters(), optimizer.layout(), optimizer.shard().rank,
                 /*shard_only=*/options_.zero_stage >= 2) {
  options_.validate();
  TORCH_CHECK(model_->parameters().size() == optimizer.parameters().size(),
              "PolicyUpdater: the optimizer holds ", optimizer.parameters().size(), " parameters, the model ",
              model_->parameters().size());
  // FlatGradients takes the embedding's sparse gradient: one vocabulary-sized
  // tensor less at the end of each backward for a tied embedding.
  model_->model->sparse_embedding_gradient = true;
}

bool PolicyUpdater::needs_old_log_probs(int64_t num_groups) const {
  if (options_.old_log_probs_from_rollout) return false;
  const bool one_mini_batch = options_.groups_per_mini_batch <= 0 || options_.groups_per_mini_batch >= num_groups;
  return options_.epochs > 1 || !one_mini_batch;
}

void PolicyUpdater::compute_old_log_probs(const std::vector<RolloutSample*>& micro_batch) {
  if (micro_batch.empty()) return;
  for (RolloutSample* sample : micro_batch) sample->old_log_probs.clear();
  const PaddedBatch batch = pad_batch(micro_batch, model_->parameters().front().device());
  torch::Tensor log_probs;
  {
    // Gradients on, as in accumulate(): the training path's rounding, not the
    // fused inference path's. The graph is dropped at the end of the scope.
    torch::AutoGradMode enable_grad(true);
    log_probs = response_tokens(model_, batch, options_.temperature, options_.logits_chunk_tokens,
                                Entropy::kNone).log_probs.detach();
  }
  const torch::Tensor host = log_probs.to(torch::kCPU, torch::kFloat32).contiguous();  // (b, r)
  const float* values = host.data_ptr<float>();
  for (size_t i = 0; i < micro_batch.size(); ++i) {
    const float* row = values + static_cast<int64_t>(i) * host.size(1);
    micro_batch[i]->old_log_probs.assign(row, row + micro_batch[i]->response_ids.size());
  }
}

void PolicyUpdater::start() {
  model_->train();
  gradients_.start();
}

void PolicyUpdater::clip_and_step(double square_sum, double learning_rate, PolicyUpdateResult* result) {
  torch::NoGradGuard no_grad;
  result->grad_norm = std::sqrt(square_sum);
  result->updates += 1;
  result->skipped = !std::isfinite(result->grad_norm);
  if (result->skipped) {
    result->skipped_updates += 1;
    return;
  }
  result->grad_norm_sum += result->grad_norm;
  if (options_.grad_clip > 0 && result->grad_norm > options_.grad_clip) {
    gradients_.scale(options_.grad_clip / (result->grad_norm + 1e-6));
  }
  optimizer_.step(learning_rate, gradients_.shard());
}

void PolicyUpdater::accumulate(const std::vector<const RolloutSample*>& micro_batch, const LossWeightTable& weights,
                               const AdvantageTable& advantages, PolicyUpdateResult* result_out) {
  PolicyUpdateResult& result = *result_out;
  const torch::Device device = model_->parameters().front().device();
  const PaddedBatch batch = pad_batch(micro_batch, device);
  const auto batch_size = static_cast<int64_t>(micro_batch.size());
  std::vector<double> weights_host(batch_size);
  std::vector<float> advantages_host(batch_size);
  for (int64_t i = 0; i < batch_size; ++i) {
    const RolloutSample& sample = *micro_batch[i];
    weights_host[i] = weights(sample.group, std::max<int64_t>(static_cast<int64_t>(sample.response_ids.size()), 1));
    advantages_host[i] = static_cast<float>(advantages(sample.group, sample.reward));
  }
  const torch::Tensor sample_weights = torch::from_blob(weights_host.data(), {batch_size}, torch::kFloat64).clone().to(device);
  const torch::Tensor sample_advantages =
      torch::from_blob(advantages_host.data(), {batch_size}, torch::kFloat32).clone().to(device);

  const bool entropy_bonus = options_.loss.entropy_coef != 0;
  // With chunks, the output weight's gradient goes straight into its fp32
  // buffer: no vocabulary × hidden tensor, and none for autograd to sum with
  // a tied embedding's.
  const ResponseTokens tokens =
      response_tokens(model_, batch, options_.temperature, options_.logits_chunk_tokens,
                      entropy_bonus ? Entropy::kDifferentiable : Entropy::kMetric,
                      options_.logits_chunk_tokens > 0 ? gradients_.gradient_of(model_->output_weight())
                                                       : torch::Tensor());
  const torch::Tensor& log_probs = tokens.log_probs;  // (b, r)
  const torch::Tensor& entropy = tokens.entropy;
  torch::Tensor reference_log_probs;
  if (reference_ != nullptr) {
    torch::NoGradGuard no_grad;
    reference_log_probs =
        response_tokens(*reference_, batch, options_.temperature, options_.logits_chunk_tokens, Entropy::kNone)
            .log_probs;
  }
  // The learner's π_old: the pass's, or (one on-policy update) this forward's.
  const torch::Tensor learner_old_log_probs = batch.old_log_probs.defined() ? batch.old_log_probs : log_probs.detach();
  const torch::Tensor old_log_probs =
      options_.old_log_probs_from_rollout ? batch.rollout_log_probs : learner_old_log_probs;
  const RolloutCorrectionWeights correction =
      rollout_correction_weights(old_log_probs, batch.rollout_log_probs, batch.mask, options_.rollout_correction);
  PolicyLoss loss = policy_loss(log_probs, old_log_probs, reference_log_probs,
                                entropy_bonus ? entropy : torch::Tensor(), batch.mask,
                                sample_advantages, sample_weights, options_.loss, correction.weights);
  {
    // bf16 .grads go into the fp32 buffer as backward produces them (fp32
    // ones accumulate there in place); fold() takes any it did not.
    const FlatGradients::BackwardFolding folding = gradients_.fold_during_backward();
    loss.loss.backward();
  }
  gradients_.fold();

  torch::NoGradGuard no_grad;
  const torch::Tensor mismatch = (learner_old_log_probs - batch.rollout_log_probs).abs() * batch.mask;
  result.tokens += batch.mask.sum().item<double>();
  result.clipped_tokens += loss.clipped_tokens;
  result.lower_clipped_tokens += loss.lower_clipped_tokens;
  result.entropy_sum += (entropy.detach() * batch.mask).sum().item<double>();
  result.kl_sum += loss.kl_sum;
  result.ppo_kl_sum += loss.ppo_kl_sum;
  result.mismatch_sum += mismatch.sum().item<double>();
  result.mismatch_max = std::max(result.mismatch_max, mismatch.numel() ? mismatch.max().item<double>() : 0.0);
  result.ratio_max = std::max(result.ratio_max, loss.ratio_max);
  result.correction_weight_sum += correction.weight_sum;
  result.corrected_tokens += correction.corrected_tokens;
  result.loss += loss.loss.item<double>();
}

}  // namespace deltarl
