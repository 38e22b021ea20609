#include "core/tasks/synthetic_verifier.h"

#include "core/input_error.h"

namespace deltarl {

SyntheticVerdict score_synthetic(std::string_view response, const SyntheticProblem& problem) {
  SyntheticVerdict verdict;
  for (const std::string& target : problem.targets) {
    if (response.find(target) != std::string_view::npos) {
      verdict.outcome = SyntheticOutcome::kCorrect;
      verdict.reward = 1;
      break;
    }
  }
  return verdict;
}

const char* synthetic_outcome_name(SyntheticOutcome outcome) {
  return outcome == SyntheticOutcome::kCorrect ? "correct" : "no_target";
}

template <typename JsonType>
SyntheticProblem synthetic_problem_from_json(const JsonType& object, const std::string& where) {
  if (!object.is_object() || !object.contains("targets") || !object["targets"].is_array()) {
    throw InputError(where + ": \"targets\" must be a list of strings (is this a synthetic-task file?)");
  }
  const auto& targets = object["targets"];
  if (targets.empty() || targets.size() > kMaxSyntheticTargets) {
    throw InputError(where + ": \"targets\" must hold 1 to " + std::to_string(kMaxSyntheticTargets) +
                     " strings, not " + std::to_string(targets.size()));
  }
  SyntheticProblem problem;
  for (const auto& target : targets) {
    // An empty target would be found in every response: the reward would say nothing.
    if (!target.is_string() || target.template get<std::string>().empty()) {
      throw InputError(where + ": \"targets\" holds " + target.dump() + "; each target must be a non-empty string");
    }
    problem.targets.push_back(target.template get<std::string>());
  }
  return problem;
}

template SyntheticProblem synthetic_problem_from_json(const nlohmann::json&, const std::string&);
template SyntheticProblem synthetic_problem_from_json(const nlohmann::ordered_json&, const std::string&);

}  // namespace deltarl
