#include "core/model/causal_lm.h"

#include "core/model/inference_kernels.h"

#include <torch/version.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

// SDPA's causal path from LibTorch 2.1; its enable_gqa (K/V shared by query
// heads without a copy) from 2.5.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define DELTARL_TORCH_HAS_SDPA 1
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define DELTARL_TORCH_HAS_SDPA_GQA 1
#endif

namespace deltarl {

bool causal_attention_supported() {
#ifdef DELTARL_TORCH_HAS_SDPA
  return true;
#else
  return false;
#endif
}

TrainingAttention default_training_attention() {
  return causal_attention_supported() ? TrainingAttention::kCausal : TrainingAttention::kMasked;
}

namespace {

// Whether every row of a (b, s) attention mask is ones then zeros: right padding.
bool right_padded(const torch::Tensor& attention_mask) {
  if (!attention_mask.defined()) return true;
  const torch::Tensor valid = attention_mask.to(torch::kBool);
  if (valid.size(1) < 2) return true;
  // A 1 after a 0 anywhere breaks it; one host sync per forward.
  return !(valid.narrow(1, 1, valid.size(1) - 1) & valid.narrow(1, 0, valid.size(1) - 1).logical_not())
              .any()
              .item<bool>();
}

// Llama 3.1's frequency scaling, in fp32 and in transformers' order of
// operations (_compute_llama3_parameters), so the frequencies match it bit for
// bit (model_parity_test compares them with torch::equal):
// long wavelengths divided by the factor, short ones kept, those between
// interpolated.
torch::Tensor llama3_scaled(const torch::Tensor& inv_freq, const RopeScaling& scaling) {
  const double original = static_cast<double>(scaling.original_max_position_embeddings);
  const double low_freq_wavelen = original / scaling.low_freq_factor;
  const double high_freq_wavelen = original / scaling.high_freq_factor;
  // Python's `scalar / tensor` is tensor.reciprocal() * scalar (Tensor.__rdiv__);
  // LibTorch's operator/(Scalar, Tensor) divides, which rounds differently.
  const torch::Tensor wavelen = inv_freq.reciprocal() * (2 * M_PI);
  torch::Tensor scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / scaling.factor, inv_freq);
  const torch::Tensor smooth = (wavelen.reciprocal() * original - scaling.low_freq_factor) /
                               (scaling.high_freq_factor - scaling.low_freq_factor);
  const torch::Tensor smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled;
  const torch::Tensor medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return torch::where(medium, smoothed, scaled);
}

torch::nn::Linear linear(int64_t in, int64_t out, bool bias) {
  auto layer = torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  torch::NoGradGuard no_grad;
  layer->weight.normal_(0.0, 0.02);  // transformers' initializer_range
  if (bias) layer->bias.zero_();
  return layer;
}

// (b, 1, s, past + s) bool, true = attend: causal, minus padded keys; a query
// left with no key at all (a padding position) sees itself, so no softmax is
// ever all-masked.
torch::Tensor attention_mask_for(const torch::Tensor& attention_mask, int64_t b, int64_t s, int64_t past,
                                 torch::Device device) {
  const int64_t total = past + s;
  const auto positions = torch::TensorOptions().dtype(torch::kInt64).device(device);
  const torch::Tensor query_positions = torch::arange(past, total, positions);
  const torch::Tensor key_positions = torch::arange(0, total, positions);
  const torch::Tensor causal = key_positions.unsqueeze(0) <= query_positions.unsqueeze(1);  // (s, total)
  torch::Tensor mask = causal.view({1, 1, s, total}).expand({b, 1, s, total});
  if (attention_mask.defined()) {
    TORCH_CHECK(attention_mask.size(0) == b && attention_mask.size(1) == total, "attention_mask must be (batch, ",
                total, ") covering cached and new positions, got ", attention_mask.sizes());
    const torch::Tensor key_valid = attention_mask.to(torch::TensorOptions().dtype(torch::kBool).device(device))
                                        .view({b, 1, 1, total});
    mask = mask & key_valid;
    // A query with no key left (a padding position) attends to itself only.
    const torch::Tensor itself = (key_positions.unsqueeze(0) == query_positions.unsqueeze(1)).view({1, 1, s, total});
    mask = mask | (itself & mask.any(/*dim=*/-1, /*keepdim=*/true).logical_not());
  }
  return mask;
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, /*dim=*/-1);
}

}  // namespace

RmsNormImpl::RmsNormImpl(int64_t size, double eps)
    : weight(register_parameter("weight", torch::ones({size}))), eps(eps) {}

bool RmsNormImpl::runs_fused(const torch::Tensor& x) const {
  return inference_kernels_apply(x) && inference_kernels_apply(weight) && weight.is_contiguous();
}

std::pair<torch::Tensor, torch::Tensor> RmsNormImpl::add_then_forward(const torch::Tensor& residual,
                                                                      const torch::Tensor& delta) {
  if (runs_fused(residual) && inference_kernels_apply(delta)) return add_rms_norm_inference(residual, delta, weight, eps);
  torch::Tensor sum = residual + delta;
  return {sum, forward(sum)};
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  if (runs_fused(x)) return rms_norm_inference(x, weight, eps);
  // As transformers: normalize in fp32, cast back, then scale by the weight.
  const auto input_dtype = x.scalar_type();
  torch::Tensor h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(/*dim=*/-1, /*keepdim=*/true) + eps);
  return weight * h.to(input_dtype);
}

DecoderAttentionImpl::DecoderAttentionImpl(const ModelConfig& config)
    : num_heads(config.num_attention_heads),
      num_kv_heads(config.num_key_value_heads),
      head_dim(config.head_dim()) {
  q_proj = register_module("q_proj", linear(config.hidden_size, num_heads * head_dim, config.attention_bias));
  k_proj = register_module("k_proj", linear(config.hidden_size, num_kv_heads * head_dim, config.attention_bias));
  v_proj = register_module("v_proj", linear(config.hidden_size, num_kv_heads * head_dim, config.attention_bias));
  o_proj = register_module("o_proj", linear(num_heads * head_dim, config.hidden_size, false));
  if (config.qk_norm) {
    q_norm = register_module("q_norm", RmsNorm(head_dim, config.rms_norm_eps));
    k_norm = register_module("k_norm", RmsNorm(head_dim, config.rms_norm_eps));
  }
  qkv_proj = FusedProjection({q_proj, k_proj, v_proj});
}

torch::Tensor DecoderAttentionImpl::normed_queries(const torch::Tensor& q) { return q_norm ? q_norm(q) : q; }

torch::Tensor DecoderAttentionImpl::normed_keys(const torch::Tensor& k) { return k_norm ? k_norm(k) : k; }

torch::Tensor DecoderAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& cos,
                                          const torch::Tensor& sin, const torch::Tensor& mask,
                                          const torch::Tensor& decode_bias, KvCache* cache, int64_t layer,
                                          LinearForm form, PagedDecodeBatch* paged) {
  const int64_t b = hidden.size(0), s = hidden.size(1);
  const torch::Tensor c = cos.unsqueeze(1), sn = sin.unsqueeze(1);  // (b, 1, s, d)
  torch::Tensor q, k, v;
  if (form == LinearForm::kTraining) {
    q = normed_queries(q_proj(hidden).view({b, s, num_heads, head_dim})).transpose(1, 2);  // (b, H, s, d)
    k = normed_keys(k_proj(hidden).view({b, s, num_kv_heads, head_dim})).transpose(1, 2);  // (b, KV, s, d)
    v = v_proj(hidden).view({b, s, num_kv_heads, head_dim}).transpose(1, 2);  // (b, KV, s, d)
    q = q * c + rotate_half(q) * sn;
    k = k * c + rotate_half(k) * sn;
  } else {
    // One product for q, k and v, and RoPE on the q and k heads together.
    const torch::Tensor fused = form == LinearForm::kPacked && packed_qkv.applies(hidden) ? packed_qkv.forward(hidden)
                                                                                          : qkv_proj.forward(hidden);
    const torch::Tensor heads = fused.view({b, s, num_heads + 2 * num_kv_heads, head_dim});
    torch::Tensor qk = heads.narrow(2, 0, num_heads + num_kv_heads);  // (b, s, H+KV, d)
    if (q_norm) {
      qk = torch::cat({q_norm(heads.narrow(2, 0, num_heads)), k_norm(heads.narrow(2, num_heads, num_kv_heads))}, 2);
    }
    if (inference_kernels_apply(qk) && inference_kernels_apply(cos) && inference_kernels_apply(sin) &&
        cos.size(0) == b && sin.size(0) == b) {  // cos/sin (b, s, d), not a broadcast (1, s, d)
      rotary_embedding_inference_(qk, cos, sin);
      qk = qk.transpose(1, 2);
    } else {
      qk = qk.transpose(1, 2);  // (b, H+KV, s, d)
      qk = qk * c + rotate_half(qk) * sn;
    }
    q = qk.narrow(1, 0, num_heads);
    k = qk.narrow(1, num_heads, num_kv_heads);
    v = heads.narrow(2, num_heads + num_kv_heads, num_kv_heads).transpose(1, 2);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  if (paged != nullptr) {
    return project_out(paged->attend(layer, q, k, v, scale).view({b, 1, num_heads * head_dim}), form);
  }
  if (cache != nullptr) std::tie(k, v) = cache->update(layer, k, v);                       // (b, KV, t, d)
  if (!mask.defined()) {
    // Causal over right-padded rows, no mask (the model checked the layout):
    // a valid query's keys are all valid; padded queries' outputs are unused.
    TORCH_CHECK(cache == nullptr && !decode_bias.defined(), "causal attention runs without a KV cache only");
#if defined(DELTARL_TORCH_HAS_SDPA_GQA)
    const torch::Tensor attended = at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0,
                                                                    /*is_causal=*/true, scale, /*enable_gqa=*/true);
#elif defined(DELTARL_TORCH_HAS_SDPA)
    const int64_t repeats = num_heads / num_kv_heads;  // SDPA before 2.5 wants as many K/V heads as queries
    const torch::Tensor attended =
        at::scaled_dot_product_attention(q, k.repeat_interleave(repeats, 1), v.repeat_interleave(repeats, 1),
                                         /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true, scale);
#else
    TORCH_CHECK(false, "causal attention needs LibTorch ≥ 2.1 (SDPA's causal path); this build has ", TORCH_VERSION);
    const torch::Tensor attended;
#endif
    return project_out(attended.transpose(1, 2).reshape({b, s, num_heads * head_dim}), form);  // (b, H, s, d) in
  }
  // Grouped-query attention without copying K/V: the `groups` query heads that
  // share a kv head are stacked along the query axis, (b, KV, groups·s, d).
  const int64_t groups = num_heads / num_kv_heads, t = k.size(2);
  if (decode_bias.defined()) {
    // One new token per row: three batched products over (b·KV) matrices with
    // the bias the model built once for all layers; no mask work per layer.
    const torch::Tensor scores =
        at::baddbmm(decode_bias, q.reshape({b * num_kv_heads, groups, head_dim}),
                    k.reshape({b * num_kv_heads, t, head_dim}).transpose(1, 2), /*beta=*/1.0, /*alpha=*/scale);
    const torch::Tensor weights = torch::softmax(scores, /*dim=*/-1, torch::kFloat32).to(q.scalar_type());
    const torch::Tensor attended = at::bmm(weights, v.reshape({b * num_kv_heads, t, head_dim}));  // (b·KV, groups, d)
    return project_out(attended.view({b, 1, num_heads * head_dim}), form);
  }
  q = q.reshape({b, num_kv_heads, groups * s, head_dim});
  const torch::Tensor grouped_mask =
      groups == 1 ? mask : mask.unsqueeze(2).expand({b, 1, groups, s, t}).reshape({b, 1, groups * s, t});
  torch::Tensor attended;
#ifdef DELTARL_TORCH_HAS_SDPA
  attended = at::scaled_dot_product_attention(q, k, v, grouped_mask, /*dropout_p=*/0.0, /*is_causal=*/false, scale);
#else
  torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2)) * scale;  // (b, KV, groups·s, t)
  // Every row attends at least to itself (see the mask), so -inf never empties a softmax.
  scores = scores.masked_fill(grouped_mask.logical_not(), -std::numeric_limits<float>::infinity());
  attended = torch::matmul(torch::softmax(scores, /*dim=*/-1, torch::kFloat32).to(q.scalar_type()), v);
#endif
  attended = attended.reshape({b, num_heads, s, head_dim});  // SDPA may return a strided layout
  return project_out(attended.transpose(1, 2).reshape({b, s, num_heads * head_dim}), form);
}

torch::Tensor DecoderAttentionImpl::project_out(const torch::Tensor& attended, LinearForm form) {
  return form == LinearForm::kPacked && packed_o.applies(attended) ? packed_o.forward(attended) : o_proj(attended);
}

DecoderMlpImpl::DecoderMlpImpl(const ModelConfig& config) {
  gate_proj = register_module("gate_proj", linear(config.hidden_size, config.intermediate_size, false));
  up_proj = register_module("up_proj", linear(config.hidden_size, config.intermediate_size, false));
  down_proj = register_module("down_proj", linear(config.intermediate_size, config.hidden_size, false));
  gate_up_proj = FusedProjection({gate_proj, up_proj});
}

torch::Tensor DecoderMlpImpl::forward(const torch::Tensor& x, LinearForm form) {
  if (form == LinearForm::kTraining) return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
  const bool packed = form == LinearForm::kPacked;
  const int64_t intermediate = gate_proj->weight.size(0);
  const torch::Tensor gate_up = packed && packed_gate_up.applies(x) ? packed_gate_up.forward(x) : gate_up_proj.forward(x);
  const torch::Tensor gated = torch::silu(gate_up.narrow(-1, 0, intermediate)) * gate_up.narrow(-1, intermediate, intermediate);
  return packed && packed_down.applies(gated) ? packed_down.forward(gated) : down_proj(gated);
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& config) {
  self_attn = register_module("self_attn", DecoderAttention(config));
  mlp = register_module("mlp", DecoderMlp(config));
  input_layernorm = register_module("input_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& cos,
                                             const torch::Tensor& sin, const torch::Tensor& mask,
                                             const torch::Tensor& decode_bias, KvCache* cache, int64_t layer,
                                             LinearForm form, PagedDecodeBatch* paged) {
  ++forwards;
  const torch::Tensor attended =
      self_attn(input_layernorm(hidden), cos, sin, mask, decode_bias, cache, layer, form, paged);
  const auto [h, normed] = post_attention_layernorm->add_then_forward(hidden, attended);
  return h + mlp(normed, form);
}

DecoderModelImpl::DecoderModelImpl(const ModelConfig& config_in) : config(config_in) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(config.vocab_size, config.hidden_size));
  {
    torch::NoGradGuard no_grad;
    embed_tokens->weight.normal_(0.0, 0.02);
  }
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) layers->push_back(DecoderLayer(config));
  norm = register_module("norm", RmsNorm(config.hidden_size, config.rms_norm_eps));
  // As transformers: 1 / theta^(2i/d), computed in fp32. Not registered (Note [RoPE in fp32]).
  const int64_t d = config.head_dim();
  inv_freq = 1.0 / torch::pow(config.rope_theta, torch::arange(0, d, 2, torch::kInt64).to(torch::kFloat32) / d);
  if (config.rope_scaling.enabled()) inv_freq = llama3_scaled(inv_freq, config.rope_scaling);
}

void DecoderModelImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(device, dtype, non_blocking);
  inv_freq = inv_freq.to(device, /*non_blocking=*/non_blocking);
}

void DecoderModelImpl::to(torch::Dtype dtype, bool non_blocking) { torch::nn::Module::to(dtype, non_blocking); }

void DecoderModelImpl::to(torch::Device device, bool non_blocking) {
  torch::nn::Module::to(device, non_blocking);
  inv_freq = inv_freq.to(device, /*non_blocking=*/non_blocking);
}

torch::Tensor DecoderModelImpl::rotary_angles(const torch::Tensor& positions) const {
  // In fp32, as transformers computes them.
  const torch::Tensor freqs =
      positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq.to(positions.device()).view({1, 1, -1});
  return torch::cat({freqs, freqs}, /*dim=*/-1);
}

torch::Tensor DecoderModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                      const torch::Tensor& position_ids, KvCache* cache, LinearForm form) {
  const int64_t b = input_ids.size(0), s = input_ids.size(1);
  const int64_t past = cache != nullptr ? cache->length() : 0, total = past + s;
  const auto device = input_ids.device();

  torch::Tensor positions = position_ids.defined()
                                ? position_ids
                                : (torch::arange(past, total, torch::TensorOptions().dtype(torch::kInt64).device(device))
                                       .unsqueeze(0)
                                       .expand({b, s}));
  const torch::Tensor angles = rotary_angles(positions);  // (b, s, d)
  const torch::Tensor& embedding = embed_tokens->weight;
  torch::Tensor hidden = sparse_embedding_gradient && torch::GradMode::is_enabled() && embedding.requires_grad()
                             ? torch::embedding(embedding, input_ids, /*padding_idx=*/-1,
                                                /*scale_grad_by_freq=*/false, /*sparse=*/true)
                             : embed_tokens(input_ids);  // (b, s, h)
  const auto dtype = hidden.scalar_type();
  torch::Tensor cos = angles.cos().to(dtype), sin = angles.sin().to(dtype);

  // Causal attention without a mask where it applies: no cache, right padding.
  TORCH_CHECK(!attention_mask.defined() || (attention_mask.size(0) == b && attention_mask.size(1) == total),
              "attention_mask must be (batch, ", total, ") covering cached and new positions, got ",
              attention_mask.sizes());
  TORCH_CHECK(training_attention == TrainingAttention::kMasked || causal_attention_supported(),
              "TrainingAttention::kCausal needs LibTorch ≥ 2.1 (SDPA's causal path); this build has ", TORCH_VERSION);
  const bool causal = training_attention == TrainingAttention::kCausal && cache == nullptr && s > 1 &&
                      right_padded(attention_mask);
  torch::Tensor mask;  // undefined: causal attention without one
  if (!causal) mask = attention_mask_for(attention_mask, b, s, past, device);
  // Decoding one token without gradients: the mask as an additive bias (0 or
  // -inf), laid out as every layer's grouped scores (b·KV, groups, total).
  torch::Tensor decode_bias;
  if (s == 1 && !torch::GradMode::is_enabled()) {
    const int64_t kv_heads = config.num_key_value_heads, groups = config.num_attention_heads / kv_heads;
    decode_bias = torch::zeros({b, 1, 1, total}, hidden.options())
                      .masked_fill_(mask.logical_not(), -std::numeric_limits<float>::infinity())
                      .expand({b, kv_heads, groups, total})
                      .reshape({b * kv_heads, groups, total});
  }
  const bool checkpointing = activation_checkpointing && cache == nullptr && torch::GradMode::is_enabled();
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    auto layer = std::dynamic_pointer_cast<DecoderLayerImpl>(layers->ptr(static_cast<size_t>(i)));
    if (checkpointing) {
      // The layer is held by the closure: backward may outlive this call.
      hidden = checkpointed(
          [layer, cos, sin, mask, decode_bias, i, form](const torch::Tensor& input) {
            return layer->forward(input, cos, sin, mask, decode_bias, nullptr, i, form);
          },
          hidden);
    } else {
      hidden = layer->forward(hidden, cos, sin, mask, decode_bias, cache, i, form);
    }
  }
  if (cache != nullptr) cache->advance(s);
  return norm(hidden);
}

torch::Tensor DecoderModelImpl::decode_paged(const torch::Tensor& tokens, const torch::Tensor& positions,
                                           PagedDecodeBatch& paged, LinearForm form) {
  TORCH_CHECK(!torch::GradMode::is_enabled(), "decode_paged runs without gradients");
  TORCH_CHECK(tokens.dim() == 2 && tokens.size(1) == 1 && tokens.size(0) == paged.size() &&
                  positions.sizes() == tokens.sizes(),
              "decode_paged: tokens and positions (", paged.size(), ", 1) expected, got ", tokens.sizes(), " and ",
              positions.sizes());
  const torch::Tensor angles = rotary_angles(positions);  // (b, 1, d)
  torch::Tensor hidden = embed_tokens(tokens);             // (b, 1, h)
  const auto dtype = hidden.scalar_type();
  const torch::Tensor cos = angles.cos().to(dtype), sin = angles.sin().to(dtype);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    hidden = layers->ptr<DecoderLayerImpl>(static_cast<size_t>(i))
                 ->forward(hidden, cos, sin, /*mask=*/{}, /*decode_bias=*/{}, nullptr, i, form, &paged);
  }
  return norm(hidden);
}

CausalLMImpl::CausalLMImpl(const ModelConfig& config) {
  model = register_module("model", DecoderModel(config));
  if (!config.tie_word_embeddings) {
    lm_head = register_module("lm_head", linear(config.hidden_size, config.vocab_size, false));
  }
}

torch::Tensor CausalLMImpl::hidden_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                                  const torch::Tensor& position_ids, KvCache* cache) {
  return hidden_states_in(form_of_this_forward(), input_ids, attention_mask, position_ids, cache);
}

torch::Tensor CausalLMImpl::logits_from_hidden(const torch::Tensor& hidden) {
  return logits_from_hidden_in(form_of_this_forward(), hidden);
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                            const torch::Tensor& position_ids, KvCache* cache) {
  const LinearForm form = form_of_this_forward();  // once: the whole forward runs one form
  return logits_from_hidden_in(form, hidden_states_in(form, input_ids, attention_mask, position_ids, cache));
}

torch::Tensor CausalLMImpl::decode_paged(const torch::Tensor& tokens, const torch::Tensor& positions,
                                                 PagedDecodeBatch& paged) {
  const LinearForm form = form_of_this_forward();
  return logits_from_hidden_in(form, model->decode_paged(tokens, positions, paged, form)).select(1, 0);
}

std::unique_ptr<PagedKvCache> CausalLMImpl::make_paged_cache(int64_t block_size, int64_t num_blocks) const {
  const auto& weight = model->embed_tokens->weight;
  return std::make_unique<PagedKvCache>(config().num_hidden_layers, config().num_key_value_heads,
                                        config().head_dim(), block_size, num_blocks, weight.options());
}

torch::Tensor CausalLMImpl::hidden_states_in(LinearForm form, const torch::Tensor& input_ids,
                                                     const torch::Tensor& attention_mask,
                                                     const torch::Tensor& position_ids, KvCache* cache) {
  return model(input_ids, attention_mask, position_ids, cache, form);
}

torch::Tensor CausalLMImpl::logits_from_hidden_in(LinearForm form, const torch::Tensor& hidden) {
  if (form == LinearForm::kPacked && packed_lm_head.applies(hidden)) return packed_lm_head.forward(hidden);  // float32 already
  return torch::nn::functional::linear(hidden, output_weight()).to(torch::kFloat32);
}

const torch::Tensor& CausalLMImpl::output_weight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

LinearForm CausalLMImpl::inference_form() const {
  if (prepared_form_ == LinearForm::kTraining) return LinearForm::kTraining;
  return prepared_parameters_.unchanged() ? prepared_form_ : LinearForm::kTraining;
}

LinearForm CausalLMImpl::form_of_this_forward() const {
  return torch::GradMode::is_enabled() ? LinearForm::kTraining : inference_form();
}

void CausalLMImpl::set_packs(bool packs) {
  const torch::Tensor& logits_weight = output_weight();
  auto pack = [packs](std::vector<torch::Tensor> weights, std::vector<torch::Tensor> biases) {
    return packs ? PackedLinear(std::move(weights), std::move(biases)) : PackedLinear();
  };
  for (const auto& layer : *model->layers) {
    auto& attention = *layer->as<DecoderLayer>()->self_attn;
    std::vector<torch::Tensor> qkv_biases;
    if (attention.q_proj->bias.defined()) {
      qkv_biases = {attention.q_proj->bias, attention.k_proj->bias, attention.v_proj->bias};
    }
    attention.packed_qkv =
        pack({attention.q_proj->weight, attention.k_proj->weight, attention.v_proj->weight}, qkv_biases);
    attention.packed_o = pack({attention.o_proj->weight}, {});
    auto& mlp = *layer->as<DecoderLayer>()->mlp;
    mlp.packed_gate_up = pack({mlp.gate_proj->weight, mlp.up_proj->weight}, {});
    mlp.packed_down = pack({mlp.down_proj->weight}, {});
  }
  packed_lm_head = pack({logits_weight}, {});
}

LinearForm CausalLMImpl::prepare_inference(LinearForm form) {
  const std::vector<torch::Tensor> all_parameters = parameters();
  if (form != LinearForm::kTraining) {
    for (const auto& parameter : all_parameters) {
      TORCH_CHECK(!parameter.is_inference(), "prepare_inference: the model's parameters are inference tensors ",
                  "(made under torch::InferenceMode), which have no version counter to tell when the inference ",
                  "forms go stale; load the model outside InferenceMode");
    }
    // Fused before packed: fusing re-points the parameters, which would retire packs made earlier.
    for (const auto& layer : *model->layers) {
      auto& decoder = *layer->as<DecoderLayer>();
      decoder.self_attn->qkv_proj.fuse();
      decoder.mlp->gate_up_proj.fuse();
    }
  }
  if (form == LinearForm::kPacked) {
    const char* switch_value = std::getenv("DELTARL_PACKED_PRODUCTS");
    bool packs = PackedLinear::supported() && (switch_value == nullptr || std::string(switch_value) != "0");
    for (const auto& parameter : all_parameters) {
      packs = packs && parameter.device().is_cpu() && parameter.scalar_type() == torch::kFloat32;
    }
    if (!packs) form = LinearForm::kFused;
  }
  set_packs(/*packs=*/form == LinearForm::kPacked);
  prepared_form_ = form;
  prepared_parameters_ = form == LinearForm::kTraining ? ParameterSnapshot() : ParameterSnapshot(parameters());
  return form;
}

KvCache CausalLMImpl::make_cache(int64_t batch, int64_t capacity) const {
  const auto& weight = model->embed_tokens->weight;
  return KvCache(config().num_hidden_layers, batch, config().num_key_value_heads, capacity, config().head_dim(),
                 weight.options().requires_grad(false));
}

}  // namespace deltarl
