#include "core/tasks/task_verifier.h"

#include <nlohmann/json.hpp>

#include "core/input_error.h"
#include "core/json_input.h"
#include "core/tasks/math_verifier.h"

namespace deltarl {

TaskVerifier TaskVerifier::parse(const std::string& task, const std::string& payload_json, const std::string& where) {
  TaskVerifier verifier;
  verifier.task_ = task;
  if (task.empty()) return verifier;
  if (task != "countdown" && task != "math" && task != "synthetic") {
    throw InputError(where + ".task \"" + task + "\" is unknown; tasks: countdown, math, synthetic, or \"\"");
  }
  const auto payload = parse_json_text<nlohmann::json>(payload_json, where, "task_payload_json");
  if (task == "countdown") {
    if (!payload.is_object() || !payload.contains("numbers") || !payload["numbers"].is_array() ||
        !payload.contains("target") || !payload["target"].is_number_integer()) {
      throw InputError(where + ".task_payload_json needs \"numbers\" (integers) and \"target\" (an integer)");
    }
    for (const auto& number : payload["numbers"]) {
      if (!number.is_number_integer()) throw InputError(where + ".task_payload_json: numbers must be integers");
      verifier.countdown_.numbers.push_back(number.get<int64_t>());
    }
    verifier.countdown_.target = payload["target"].get<int64_t>();
    if (payload.contains("format_reward")) {
      const auto& reward = payload["format_reward"];
      if (!reward.is_number() || !(reward.get<double>() >= 0.0 && reward.get<double>() <= 1.0)) {
        throw InputError(where + ".task_payload_json: format_reward must be a number in [0, 1]");
      }
      verifier.countdown_format_reward_ = reward.get<double>();
    }
  } else if (task == "synthetic") {
    verifier.synthetic_ = synthetic_problem_from_json(payload, where + ".task_payload_json");
  } else {
    if (!payload.is_object() || !payload.contains("answer") ||
        !(payload["answer"].is_string() || payload["answer"].is_number())) {
      throw InputError(where + ".task_payload_json needs \"answer\"");
    }
    verifier.math_answer_ = payload["answer"].is_string() ? payload["answer"].get<std::string>() : payload["answer"].dump();
  }
  return verifier;
}

TaskVerdict TaskVerifier::score(std::string_view response) const {
  TaskVerdict verdict;
  if (task_ == "countdown") {
    const CountdownVerdict countdown = score_countdown(response, countdown_, countdown_format_reward_);
    verdict.reward = countdown.reward;
    verdict.outcome = countdown_outcome_name(countdown.outcome);
  } else if (task_ == "math") {
    const MathVerdict math = score_math(response, math_answer_);
    verdict.reward = math.reward;
    verdict.outcome = math.correct ? "correct" : math.found_answer ? "wrong_value" : "no_answer";
  } else if (task_ == "synthetic") {
    const SyntheticVerdict synthetic = score_synthetic(response, synthetic_);
    verdict.reward = synthetic.reward;
    verdict.outcome = synthetic_outcome_name(synthetic.outcome);
  }
  return verdict;
}

}  // namespace deltarl
