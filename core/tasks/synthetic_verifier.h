// The synthetic task's verifier, a TEST task (not a benchmark of reasoning):
// each prompt names a few target symbols, and a response earns reward 1 when
// its text contains at least one of them anywhere, else 0. A random model
// emits such symbols by chance, so it earns mixed 0/1 rewards and GRPO-style
// advantages are non-zero from the first step (core/tasks/synthetic_generator.h
// picks how many targets a prompt names; docs/configuration.md has the calibration).
//
//   SyntheticProblem problem = synthetic_problem_from_json(payload, "prompts[0]");
//   score_synthetic("xx7y", {{"7", "Q"}});   // reward 1, outcome kCorrect
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace deltarl {

inline constexpr size_t kMaxSyntheticTargets = 256;

struct SyntheticProblem {
  std::vector<std::string> targets;  // non-empty strings; any one of them in the response earns the reward
};

enum class SyntheticOutcome {
  kCorrect,    // the response contains a target
  kNoTarget,   // it contains none
};

struct SyntheticVerdict {
  SyntheticOutcome outcome = SyntheticOutcome::kNoTarget;
  double reward = 0;  // 1 for kCorrect, else 0
};

SyntheticVerdict score_synthetic(std::string_view response, const SyntheticProblem& problem);

// "correct" or "no_target", as TaskVerdict::outcome and `deltarl reward` write it.
const char* synthetic_outcome_name(SyntheticOutcome outcome);

// Reads {"targets": ["7", "Q", ...]} (a JSONL line or a verifier payload; other
// fields are ignored). InputError naming `where` and "targets" when the field is
// missing, not a list, empty, longer than kMaxSyntheticTargets, or holds
// anything but non-empty strings.
template <typename JsonType>
SyntheticProblem synthetic_problem_from_json(const JsonType& object, const std::string& where);

}  // namespace deltarl
