#include "trainer/algorithm/aggregation_config.h"

#include <cmath>
#include <sstream>

#include "core/input_error.h"

namespace deltarl {

namespace {
constexpr const char* kModeNames =
    "delta-l, seq-mean-token-mean, token-mean, seq-mean-token-sum-norm, seq-mean-token-sum";
}  // namespace

bool AggregationConfig::uses_max_response_length() const {
  return mode == AggregationMode::kSeqMeanTokenSumNorm || mode == AggregationMode::kDeltaL;
}

void AggregationConfig::validate() const {
  if (mode == AggregationMode::kDeltaL && !(std::isfinite(alpha) && alpha >= 0.0)) {
    std::ostringstream message;
    message << "alpha must be a finite number >= 0 for delta-l, got " << alpha
            << " (alpha = 1 is minimum variance when gradient variance grows as L; 0 is Dr. GRPO)";
    throw InputError(message.str());
  }
  if (uses_max_response_length() &&
      !(std::isfinite(max_response_length) && max_response_length > 0.0)) {
    std::ostringstream message;
    message << "max response length M must be > 0 for " << aggregation_mode_name(mode) << ", got "
            << max_response_length << " (M is usually the generation limit, max_new_tokens)";
    throw InputError(message.str());
  }
}

std::string AggregationConfig::describe() const {
  std::ostringstream label;
  label << aggregation_mode_name(mode);
  if (mode == AggregationMode::kDeltaL) {
    label << "(alpha=" << alpha << ",scope=" << delta_l_scope_name(scope) << ")";
  }
  return label.str();
}

AggregationMode parse_aggregation_mode(const std::string& name) {
  if (name == "delta-l") return AggregationMode::kDeltaL;
  if (name == "seq-mean-token-mean") return AggregationMode::kSeqMeanTokenMean;
  if (name == "token-mean") return AggregationMode::kTokenMean;
  if (name == "seq-mean-token-sum-norm") return AggregationMode::kSeqMeanTokenSumNorm;
  if (name == "seq-mean-token-sum") return AggregationMode::kSeqMeanTokenSum;
  throw InputError("unknown aggregation mode \"" + name + "\"; valid modes: " + kModeNames);
}

DeltaLScope parse_delta_l_scope(const std::string& name) {
  if (name == "group") return DeltaLScope::kGroup;
  if (name == "batch") return DeltaLScope::kBatch;
  throw InputError("unknown delta-l scope \"" + name + "\"; valid scopes: group, batch");
}

const char* aggregation_mode_name(AggregationMode mode) {
  switch (mode) {
    case AggregationMode::kSeqMeanTokenMean: return "seq-mean-token-mean";
    case AggregationMode::kTokenMean: return "token-mean";
    case AggregationMode::kSeqMeanTokenSumNorm: return "seq-mean-token-sum-norm";
    case AggregationMode::kSeqMeanTokenSum: return "seq-mean-token-sum";
    case AggregationMode::kDeltaL: return "delta-l";
  }
  return "unknown";
}

const char* delta_l_scope_name(DeltaLScope scope) {
  return scope == DeltaLScope::kGroup ? "group" : "batch";
}

}  // namespace deltarl
