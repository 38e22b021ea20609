// TaskVerifier: the reward of a response for one prompt of a task, built from
// the task name and its ground-truth payload (the JSON the learner sends with
// each prompt). The one place that maps (task, payload, response) to a reward:
// rollout workers, `deltarl eval` and the tests all use it.
//
//   TaskVerifier verifier = TaskVerifier::parse("countdown", R"({"numbers":[3,5,7],"target":22})", "prompts[0]");
//   TaskVerdict verdict = verifier.score("<answer>3*5+7</answer>");   // reward 1, outcome "correct"
//
// Payloads: countdown {"numbers": [ints], "target": int, "format_reward": 0..1 (optional)};
// math {"answer": string or number}; synthetic {"targets": [non-empty strings]}
// (a test task: reward 1 when the response contains a target). Task "" scores
// nothing (reward 0).
#pragma once

#include <string>
#include <string_view>

#include "core/tasks/countdown_verifier.h"
#include "core/tasks/synthetic_verifier.h"

namespace deltarl {

struct TaskVerdict {
  double reward = 0;
  std::string outcome;  // "correct", or the verifier's reason ("no_answer", "wrong_value", ...); "" for no task
  bool correct() const { return outcome == "correct"; }
};

class TaskVerifier {
 public:
  // Throws InputError naming `where` and the field for an unknown task or a bad payload.
  static TaskVerifier parse(const std::string& task, const std::string& payload_json, const std::string& where);

  TaskVerdict score(std::string_view response) const;
  const std::string& task() const { return task_; }

 private:
  std::string task_;
  CountdownProblem countdown_;
  double countdown_format_reward_ = 0;
  std::string math_answer_;
  SyntheticProblem synthetic_;
};

}  // namespace deltarl
