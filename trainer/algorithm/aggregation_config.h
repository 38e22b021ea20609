// AggregationConfig: how one optimizer step turns per-token losses into one loss,
// i.e. which per-sample weight w_i each sample gets (docs/loss-aggregation.md).
// Mode names follow verl's `loss_agg_mode` so users can move over.
//
//   AggregationConfig config;                       // delta-l, alpha 1, scope group
//   config.max_response_length = 1024;              // M
//   config.validate();                              // throws InputError when bad
#pragma once

#include <string>

namespace deltarl {

enum class AggregationMode {
  kSeqMeanTokenMean,     // "seq-mean-token-mean"      GRPO:      1 / (|S| L_i)
  kTokenMean,            // "token-mean"               DAPO:      1 / Σ_S L_j
  kSeqMeanTokenSumNorm,  // "seq-mean-token-sum-norm"  Dr. GRPO:  1 / (|S| M)
  kSeqMeanTokenSum,      // "seq-mean-token-sum":                 1 / |S|
  kDeltaL,               // "delta-l"                  ΔL:        see DeltaLScope
};

// Where ΔL normalizes Σ L^-α.
enum class DeltaLScope {
  kGroup,  // "group": L_i^-α / (M · #groups · Σ_{j∈g(i)} L_j^-α)   (the paper)
  kBatch,  // "batch": L_i^-α / (M · Σ_{j∈S} L_j^-α)                (the authors' release)
};

struct AggregationConfig {
  AggregationMode mode = AggregationMode::kDeltaL;
  double alpha = 1.0;               // ΔL exponent; α = 1 is minimum variance when Var ∝ L.
  double max_response_length = 0;   // M: the fixed constant of Dr. GRPO and ΔL.
  DeltaLScope scope = DeltaLScope::kGroup;

  // True for the modes whose weights use M.
  bool uses_max_response_length() const;

  // Throws InputError naming the field: α < 0 or not finite; M ≤ 0 or not finite
  // when the mode uses it.
  void validate() const;

  // A short label, e.g. "delta-l(alpha=0.5,scope=group)".
  std::string describe() const;
};

// Parse verl-style names. Throws InputError listing the valid names.
AggregationMode parse_aggregation_mode(const std::string& name);
DeltaLScope parse_delta_l_scope(const std::string& name);
const char* aggregation_mode_name(AggregationMode mode);
const char* delta_l_scope_name(DeltaLScope scope);

}  // namespace deltarl
