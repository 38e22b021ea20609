// CausalLM in LibTorch, computing exactly what Hugging Face
// `transformers` computes (tests/core/model/model_parity_test.cpp): RMSNorm in
// fp32 then cast back, RoPE in rotate-half layout, grouped-query attention with
// q/k/v bias and no o bias, SwiGLU MLP, optional tied embeddings. Parameter
// names are the Hugging Face checkpoint names ("model.layers.0.self_attn.q_proj.weight").
//
//   CausalLM model(config);
//   torch::Tensor logits = model->forward(input_ids, attention_mask);  // (b, s, vocab) fp32
//
// The Linear layers exist in three forms (inference_forms.h): the training
// layers, and the inference forms prepare_inference() builds: fused q/k/v and
// gate/up products (FusedProjection), and packed copies (PackedLinear) for the
// rollout workers. A forward with grad mode off runs the prepared form while
// Note [Inference form staleness] holds, else the training layers:
//
//   model->prepare_inference(LinearForm::kFused);  // after loading or writing weights
//
// With grad mode off, on the CPU in float32, RMSNorm, the residual add + norm
// and RoPE also run as fused passes (inference_kernels.h), whatever the form.
//
// Training forward: right-padded batches, `attention_mask` (b, s) with 1 on real
// tokens. Incremental forward: pass a KvCache; `attention_mask` then covers the
// cached and the new positions (b, past + s), and `position_ids` (b, s) give each
// row's positions (cumsum(mask) - 1 for left-padded prompts).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <utility>

#include "core/model/activation_checkpoint.h"
#include "core/model/fused_projection.h"
#include "core/model/inference_forms.h"
#include "core/model/kv_cache.h"
#include "core/model/paged_attention.h"
#include "core/model/paged_kv_cache.h"
#include "core/model/packed_linear.h"
#include "core/model/model_config.h"

namespace deltarl {

// How attention runs in a forward without a KV cache whose rows are right-padded
// (training, the π_old pass, scoring): the learners' forwards.
enum class TrainingAttention {
  kMasked,  // a (b, 1, s, t) boolean mask built once per forward: any LibTorch
  kCausal,  // SDPA's causal path, no mask tensor at all (LibTorch ≥ 2.1); from
            // LibTorch 2.5 grouped-query attention without copying K/V
};

// Whether this build's LibTorch has SDPA's causal path (TrainingAttention::kCausal).
bool causal_attention_supported();
// The attention a model uses unless told otherwise: kCausal where supported.
TrainingAttention default_training_attention();

struct RmsNormImpl : torch::nn::Module {
  RmsNormImpl(int64_t size, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // (..., size) → same dtype
  // (residual + delta, forward(residual + delta)): the residual stream's add and
  // this norm, in one pass where the inference kernels apply.
  std::pair<torch::Tensor, torch::Tensor> add_then_forward(const torch::Tensor& residual, const torch::Tensor& delta);
  torch::Tensor weight;
  double eps;

 private:
  bool runs_fused(const torch::Tensor& x) const;  // inference_kernels.h applies to x and the weight
};
TORCH_MODULE(RmsNorm);

struct DecoderAttentionImpl : torch::nn::Module {
  explicit DecoderAttentionImpl(const ModelConfig& config);
  // hidden (b, s, h); cos/sin (b, s, head_dim); mask (b, 1, s, past + s) bool, true = attend,
  // or undefined for causal attention without a mask (TrainingAttention::kCausal, no cache).
  // decode_bias: undefined, or for s = 1 the mask as an additive bias (b·KV, groups, past + 1)
  // in the weights' dtype (0 or -inf), which then replaces `mask`. `form`: the
  // products to run, as CausalLM::inference_form() says. `paged`: for
  // s = 1, attend through a paged KV cache instead (mask, decode_bias and cache unused).
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& decode_bias, KvCache* cache, int64_t layer,
                        LinearForm form, PagedDecodeBatch* paged = nullptr);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RmsNorm q_norm{nullptr}, k_norm{nullptr};  // over each head (head_dim), before RoPE; null unless config.qk_norm
  FusedProjection qkv_proj;           // q, k, v as one product; fused by prepare_inference()
  PackedLinear packed_qkv, packed_o;  // empty unless prepare_inference(LinearForm::kPacked) packed them
  int64_t num_heads, num_kv_heads, head_dim;

 private:
  // q (…, heads, d) and k (…, kv_heads, d) through q_norm and k_norm, when the config has them.
  torch::Tensor normed_queries(const torch::Tensor& q);
  torch::Tensor normed_keys(const torch::Tensor& k);
  torch::Tensor project_out(const torch::Tensor& attended, LinearForm form);  // o_proj, packed where it applies
};
TORCH_MODULE(DecoderAttention);

struct DecoderMlpImpl : torch::nn::Module {
  explicit DecoderMlpImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, LinearForm form);  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  FusedProjection gate_up_proj;              // gate and up as one product; fused by prepare_inference()
  PackedLinear packed_gate_up, packed_down;  // empty unless prepare_inference(LinearForm::kPacked) packed them
};
TORCH_MODULE(DecoderMlp);

struct DecoderLayerImpl : torch::nn::Module {
  explicit DecoderLayerImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& decode_bias, KvCache* cache, int64_t layer,
                        LinearForm form, PagedDecodeBatch* paged = nullptr);
  DecoderAttention self_attn{nullptr};
  DecoderMlp mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  int64_t forwards = 0;  // calls of forward(), recomputes included (tests count them); not synchronized
};
TORCH_MODULE(DecoderLayer);

struct DecoderModelImpl : torch::nn::Module {
  explicit DecoderModelImpl(const ModelConfig& config);
  // Final hidden states (b, s, h) after the last norm, the layers' products in `form`.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& position_ids, KvCache* cache, LinearForm form);
  // One new token per row, tokens and positions (b, 1), attending through
  // `paged` (paged_attention.h): final hidden states (b, 1, h). Without gradients.
  torch::Tensor decode_paged(const torch::Tensor& tokens, const torch::Tensor& positions, PagedDecodeBatch& paged,
                             LinearForm form);
  // RoPE angles position × inv_freq in fp32, as forward() computes them, each
  // frequency twice for the rotate-half layout: positions (b, s) int64 → (b, s, head_dim).
  torch::Tensor rotary_angles(const torch::Tensor& positions) const;
  // Module's casts, which also move inv_freq to `device` and keep it fp32
  // whatever `dtype` (Note [RoPE in fp32]).
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};
  torch::Tensor inv_freq;  // (head_dim / 2,) fp32 always, not a buffer (Note [RoPE in fp32])
  ModelConfig config;
  // With gradients on and no KV cache, each decoder layer runs checkpointed
  // (activation_checkpoint.h): backward keeps only the layers' inputs and
  // recomputes each layer, one at a time. Same numbers, one more forward.
  bool activation_checkpointing = false;
  // With gradients on, the embedding's gradient is sparse (rows of the tokens
  // seen) instead of a dense vocabulary × hidden tensor. A tied embedding then
  // holds two such tensors at the end of backward, not three: LibTorch 1.13
  // sums a leaf's gradients from its two uses out of place (the lm_head's, the
  // embedding's, their sum), 0.5 GiB each for Qwen2.5-0.5B in fp32. Whoever
  // sets it reads sparse .grads (FlatGradients does); the policy updater sets it.
  bool sparse_embedding_gradient = false;
  // A forward without a KV cache whose attention_mask is a prefix of ones per
  // row (or undefined) runs this; any other forward runs kMasked. kCausal where
  // causal_attention_supported() is false is an error.
  TrainingAttention training_attention = default_training_attention();
};

// Note [RoPE in fp32]
// The rotary frequencies inv_freq stay fp32 in a bf16 model: in bf16 they carry
// a relative error up to 2^-9, which at positions 4k-8k moves the angles of the
// faster frequencies by radians. So inv_freq is a plain member, not a registered
// buffer, which Module::to(dtype) would cast: DecoderModelImpl's to() overrides
// (reached from CausalLM's, which casts its children through them) move
// it with the device only. The angles and their cos/sin are computed in fp32
// and cos/sin cast to the hidden states' dtype, as transformers does. It was
// never in a checkpoint: save_pretrained and the weight uploads write
// named_parameters(), and load_pretrained skips a stored "*.inv_freq".
TORCH_MODULE(DecoderModel);

struct CausalLMImpl : torch::nn::Module {
  explicit CausalLMImpl(const ModelConfig& config);

  // Logits (b, s, vocab) in fp32. `attention_mask` (b, past + s), undefined for
  // all ones; `position_ids` (b, s), undefined for past + arange(s).
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                        const torch::Tensor& position_ids = {}, KvCache* cache = nullptr);
  // The same up to the final norm: (b, s, h), in the weights' dtype.
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                              const torch::Tensor& position_ids = {}, KvCache* cache = nullptr);
  // One decoding step through a paged KV cache (paged_attention.h): tokens and
  // positions (b, 1) → logits (b, vocab) in fp32. Without gradients.
  torch::Tensor decode_paged(const torch::Tensor& tokens, const torch::Tensor& positions, PagedDecodeBatch& paged);
  // A paged KV cache of `num_blocks` blocks of `block_size` positions for this
  // model, in the weights' dtype and on their device.
  std::unique_ptr<PagedKvCache> make_paged_cache(int64_t block_size, int64_t num_blocks) const;
  // Logits (…, vocab) in fp32 from hidden states.
  torch::Tensor logits_from_hidden(const torch::Tensor& hidden);
  // The output layer's weight (vocab, h): lm_head's, or the embeddings' when tied.
  const torch::Tensor& output_weight() const;

  // A KV cache sized for this model.
  KvCache make_cache(int64_t batch, int64_t capacity) const;

  // Builds the inference forms, the only place that does (inference_forms.h):
  //   kTraining: none; drops the packs. No-grad forwards run the training layers.
  //   kFused: fuses q/k/v and gate/up (FusedProjection: no extra memory, the
  //     parameters keep their names and shapes, and stay where an earlier fuse
  //     put them); drops the packs.
  //   kPacked: kFused, then packs every decoder product and the logits' for
  //     PackedLinear's CPU kernel (one extra copy of those weights) when it can
  //     run them: x86-64 with AVX-512F or AVX2+FMA, float32 weights on the CPU, and
  //     DELTARL_PACKED_PRODUCTS not set to 0; otherwise prepares kFused.
  // Returns the form prepared. Forwards without gradients use it while Note
  // [Inference form staleness] holds: call again after a write the version
  // counters do not see (a memcpy upload) and to use the forms again after one
  // they see (an optimizer step). Parameters must not be inference tensors
  // (they have no version counter). Must not overlap a forward on another thread.
  LinearForm prepare_inference(LinearForm form);
  // The form a forward without gradients runs now: the prepared one while Note
  // [Inference form staleness] holds, else kTraining. (With grad mode on,
  // forwards run kTraining whatever this says.)
  LinearForm inference_form() const;

  const ModelConfig& config() const { return model->config; }

  DecoderModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied to model->embed_tokens
  PackedLinear packed_lm_head;         // empty unless prepare_inference(LinearForm::kPacked) packed it

 private:
  LinearForm form_of_this_forward() const;  // inference_form() without gradients, else kTraining
  torch::Tensor hidden_states_in(LinearForm form, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                 const torch::Tensor& position_ids, KvCache* cache);
  torch::Tensor logits_from_hidden_in(LinearForm form, const torch::Tensor& hidden);
  void set_packs(bool packs);  // packs every product prepare_inference() names, or empties them all

  LinearForm prepared_form_ = LinearForm::kTraining;
  ParameterSnapshot prepared_parameters_;  // every parameter, as prepare_inference() left it
};
TORCH_MODULE(CausalLM);

}  // namespace deltarl
