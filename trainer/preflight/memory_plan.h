// MemoryPlan: a learner rank's peak memory for a training config, by component,
// from the model's config.json alone (no weights), and whether it fits. Used by
// `deltarl plan` and as one of `deltarl preflight`'s checks.
//
//   MemoryPlan plan = plan_memory(ModelConfig::from_file(".../config.json"), config, {.ranks = 8});
//   plan.fits(); plan.suggestions;   // concrete settings that would make it fit
//
// Note [What the learner holds]. P parameters, e bytes per element of
// model.dtype (4 float32, 2 bfloat16), N ranks, Z train.zero_stage. The micro-batch
// is (b, s): with train.micro_batch_tokens = T > 0, s = prompt + max_new_tokens
// (the longest sample) and b = ⌊T / s⌋; else b = micro_batch_size and the same s.
// r = max_new_tokens response tokens per row, n = b·s tokens, h hidden,
// I intermediate, H heads, K KV heads, g = H/K, kv = K·head_dim, L layers, V vocab.
//   weights             P·e
//   gradients           P·4: one flat fp32 buffer (trainer/algorithm/flat_gradients.h)
//                       whatever model.dtype, which exists during backward at every
//                       ZeRO stage (stage 2 frees it only after the reduce-scatter,
//                       so it does not lower the peak); bf16 weights' .grads are
//                       folded into it as backward accumulates each, so only the
//                       largest tensor's remain: largest·(2e + 4) (two when tied,
//                       and the fp32 copy being folded), counted with the activations
//   optimizer state     AdamW exp_avg + exp_avg_sq 8·P, + fp32 master 4·P when
//                       e ≠ 4; ÷ N when Z ≥ 1
//   activations         what autograd keeps for causal_lm.cpp's training path,
//                       per decoder layer:
//                         n·[2·(4 + 2e)·h + 8          two RMSNorms: fp32 input, normalized (e), output (e), rsqrt
//                            + q·e + 2·kv·e            q (grouped copy), k and v (matmul's copies); RoPE keeps cos/sin only
//                            + q·e                     attention output (o_proj's input)
//                            + 4·I·e                   SwiGLU: gate, silu(gate), up, their product
//                            + (q + kv)·(4 + 2e)]      Qwen3's per-head q/k RMSNorms (like the two above)
//                       where q = H·head_dim (h but for Qwen3) and kv = KV·head_dim
//                       + masked attention: b·s²·(4·H + (e = 2 ? 2·H : 0) + g)
//                                                     softmax fp32, its cast, the negated bool mask (b, 1, g·s, s)
//                       + causal SDPA (flash/efficient): b·s·4·H (log-sum-exp), no s² term
//                       whole pass: L·layer + final norm n·h·(4 + 2e) + response hidden b·r·h·e
//                       + one layer's worth of working memory in backward;
//                       with activation checkpointing: L·n·h·e (each layer's input)
//                       + final norm + response hidden + 2 layers' worth (recompute, backward).
//   logits              unchunked, F = b·r·V·4: max(3·F, 2·F + 3·min(b·r, 1024)·V·4):
//                       backward holds log_softmax's saved output, its gradient and
//                       the logits' gradient; forward the logits, log_softmax's
//                       output and the entropy metric's three temporaries over up to
//                       1024 rows (policy_loss.cpp token_entropy). With an entropy
//                       bonus (entropy_coef ≠ 0) 6·F. Chunked (c = logits_chunk_tokens):
//                       4·min(c, b·r)·V·4
//   reference model     P·e when algorithm.kl_coef > 0 (its no-grad forward's
//                       transients stay under the policy's backward peak)
//   baseline            CPU: kCpuProcessBaselineBytes (LibTorch, OpenBLAS, MPI:
//                       measured, docs/memory.md); CUDA: kCudaContextBytes
// The π_old pass is a forward with gradients on over the same micro-batches,
// detached at once: activations + 2 logits copies, under the update's peak, so it
// adds nothing. The transient at negligible activations is 9.5 B per element
// of the largest tensor (the tied embedding), measured with AdamW's update in
// chunks and the embedding's gradient sparse: the lm_head's gradient and its
// sum with the embedding's, reached in backward; 1.5 B with logits chunks,
// whose layer adds the weight's gradient into the flat buffer. Peak = weights + gradients + optimizer
// state + reference + baseline + max(activations + logits, step): on a GPU step =
// the step transient; on the CPU step = activations + the step transient, since
// the heap keeps the activations' freed small blocks (core/tensor_memory_reuse.h)
// and the step's large temporaries are mapped beside them (docs/memory.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/memory_size.h"
#include "core/model/model_config.h"
#include "trainer/run/training_config.h"

namespace deltarl {

// Measured on the CPU learner (docs/memory.md): resident memory of `deltarl
// update` beyond its tensors, and a CUDA context's share of a GPU.
constexpr int64_t kCpuProcessBaselineBytes = int64_t{190} << 20;
constexpr int64_t kCudaContextBytes = int64_t{1} << 30;

struct MemoryPlanOptions {
  int64_t ranks = 1;             // learner ranks in the job (ZeRO divides by it)
  int64_t ranks_per_host = 0;    // sharing one host's memory on CPU; 0: all of `ranks`
  int64_t limit_bytes = 0;       // per rank; 0: CPU host memory ÷ ranks_per_host
  int64_t prompt_tokens = 512;   // the longest prompt, in tokens
  bool cuda = false;             // the learner runs on a GPU (limit_bytes required)
};

struct MemoryComponents {
  int64_t weights = 0, gradients = 0, optimizer_state = 0, activations = 0, logits = 0, reference_model = 0,
          step_transient = 0, baseline = 0;
};

struct MemoryPlan {
  MemoryComponents components;
  int64_t micro_batch_rows = 0, sequence_tokens = 0, response_tokens = 0;  // the worst micro-batch (b, s), r
  bool masked_attention = true;
  int64_t per_rank_peak_bytes = 0;
  int64_t limit_bytes = 0;
  std::string limit_source;               // "--gpu-memory", "host memory 31.3 GiB / 2 ranks"
  std::vector<std::string> suggestions;   // "--set train.activation_checkpointing=true: 41.2 GiB", when not fitting
  bool fits() const { return per_rank_peak_bytes <= limit_bytes; }
};

// Requires a validated config and model. Throws InputError for a CUDA plan without a limit.
MemoryPlan plan_memory(const ModelConfig& model, const TrainingConfig& config, const MemoryPlanOptions& options);

// The plan as a console table, and as one JSON object (per_rank_peak_bytes, fits,
// limit_bytes, components, micro_batch, suggestions).
std::string describe_memory_plan(const MemoryPlan& plan);
nlohmann::ordered_json memory_plan_json(const MemoryPlan& plan);

// model.path's config.json, or a preset name (tiny, small, qwen2.5-…) when no such
// folder exists. InputError naming the file for a missing or invalid config.json.
ModelConfig plan_model_config(const std::string& model_path);

}  // namespace deltarl
