// LiveStudy: the paper's gradient analysis on a real model and task (`deltarl
// gradstats --model DIR --task ... --data FILE`). Samples G responses for each of
// N prompts, scores them, and computes every response's gradient
// g_i = ∇θ Σ_t log π(y_t | ·) over all parameters, compressed to K numbers by a
// fixed CountSketch (squared norms and variances are kept in expectation;
// memory is N·G·K doubles plus one index per parameter). Then:
//   - Var[g | L] per length bin (variance of the sketched gradients around their
//     bin mean, summed over directions), and the least-squares fit
//     log Var = β log L + c, with R²: the paper's Var ∝ L^β;
//   - for each aggregation mode (the trainer's own weights), the estimator
//     ĝ = Σ_i w_i g_i over batches of groups resampled from the collected ones
//     (bootstrap), its expectation and its coefficient of variation
//     CV = sqrt(tr Var ĝ) / ‖E ĝ‖ — the quantity of the paper's analysis and of
//     `gradstats --synthetic` (advantages left out: they multiply every mode alike
//     and are zero wherever a group's rewards are equal).
// The minimum-variance ΔL exponent is α = β (weights ∝ L^-β); suggested_alpha.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/causal_lm.h"
#include "core/tokenizer/tokenizer.h"
#include "trainer/prompts/prompt_dataset.h"

namespace deltarl {

struct LiveStudyOptions {
  PromptDatasetOptions prompts;    // task, template, chat
  int64_t prompts_count = 32;      // N
  int64_t samples_per_prompt = 8;  // G
  double temperature = 1.0;
  int64_t max_new_tokens = 128;
  int64_t sketch_dimensions = 256; // K
  int64_t length_bins = 6;         // quantile bins of L for the variance fit
  int64_t groups_per_batch = 8;    // groups per resampled batch for the CV
  int64_t bootstrap_batches = 400;
  uint64_t seed = 1;
  void validate() const;           // InputError naming the option
};

struct LengthBin {
  double mean_length = 0;
  int64_t samples = 0;
  double gradient_variance = 0;    // E‖g − ḡ_bin‖² (sketched)
};

struct ModeVariation {
  std::string label;               // "GRPO", "DAPO", "Dr. GRPO", "dL a=1", ...
  double mean_norm = 0;            // ‖E ĝ‖ (sketched)
  double cv = 0;                   // sqrt(tr Var ĝ) / ‖E ĝ‖
};

struct LiveStudyResult {
  std::vector<LengthBin> bins;
  double beta = 0, r_squared = 0;  // log Var = β log L + c over the bins
  double suggested_alpha = 0;      // clamp(β, 0, 2)
  std::vector<ModeVariation> modes;
  int64_t samples = 0;
  double mean_reward = 0;
  std::vector<int64_t> lengths;    // every response's length
  std::vector<double> squared_norms;  // every response's ‖g_i‖² (sketched)
};

// Requires at least 2 distinct lengths; throws InputError for bad options or data.
LiveStudyResult run_live_study(CausalLM& model, const Tokenizer& tokenizer, const std::string& data_path,
                               const LiveStudyOptions& options);

}  // namespace deltarl
