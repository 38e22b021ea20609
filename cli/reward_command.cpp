#include "cli/reward_command.h"

#include <iostream>
#include <memory>
#include <vector>

#include "cli/jsonl_filter.h"
#include "core/input_error.h"
#include "core/jsonl_reader.h"
#include "core/tasks/countdown_verifier.h"
#include "core/tasks/math_verifier.h"
#include "core/tasks/synthetic_verifier.h"

namespace deltarl {

namespace {

std::string required_string(const Json& object, const char* field, const std::string& where) {
  auto it = object.find(field);
  if (it == object.end()) throw InputError(where + ": missing field \"" + field + "\"");
  if (!it->is_string()) throw InputError(where + ": field \"" + field + "\" must be a string, got " + it->dump());
  return it->get<std::string>();
}

CountdownProblem countdown_truth(const Json& line, const std::string& where) {
  CountdownProblem problem;
  auto numbers = line.find("numbers");
  if (numbers == line.end() || !numbers->is_array() || numbers->empty()) {
    throw InputError(where + ": field \"numbers\" must be a non-empty list of integers");
  }
  for (const auto& number : *numbers) {
    if (!number.is_number_integer()) throw InputError(where + ": field \"numbers\" holds " + number.dump() + ", not an integer");
    problem.numbers.push_back(number.get<int64_t>());
  }
  problem.target = required_integer(line, "target", where);
  return problem;
}

}  // namespace

Status score_responses(const RewardOptions& options, std::istream& input, const std::string& source_name,
                       std::ostream& output) {
  try {
    if (options.task != "countdown" && options.task != "math" && options.task != "synthetic") {
      throw InputError("unknown task \"" + options.task + "\"; tasks: countdown, math, synthetic");
    }
    JsonlReader reader(input, source_name);
    std::vector<Json> scored;
    while (auto line = reader.next()) {
      const std::string where = reader.where();
      const std::string response = required_string(line->value, "response", where);
      if (options.task == "countdown") {
        const CountdownVerdict verdict = score_countdown(response, countdown_truth(line->value, where), options.format_reward);
        line->value["reward"] = verdict.reward;
        line->value["outcome"] = countdown_outcome_name(verdict.outcome);
      } else if (options.task == "synthetic") {
        const SyntheticVerdict verdict = score_synthetic(response, synthetic_problem_from_json(line->value, where));
        line->value["reward"] = verdict.reward;
        line->value["outcome"] = synthetic_outcome_name(verdict.outcome);
      } else {
        auto answer = line->value.find("answer");
        if (answer == line->value.end() || !(answer->is_string() || answer->is_number())) {
          throw InputError(where + ": field \"answer\" (the ground truth) must be a string or a number");
        }
        const std::string truth = answer->is_string() ? answer->get<std::string>() : answer->dump();
        const MathVerdict verdict = score_math(response, truth);
        line->value["reward"] = verdict.reward;
        line->value["outcome"] = verdict.correct ? "correct" : (verdict.found_answer ? "wrong_value" : "no_answer");
      }
      scored.push_back(std::move(line->value));
    }
    for (const auto& line : scored) output << line.dump() << '\n';
    return output ? Status() : Status(StatusCode::kInternal, "writing the output failed");
  } catch (const InputError& error) {
    return Status(StatusCode::kInvalidArgument, error.what());
  }
}

void register_reward_command(CLI::App& app, Status* status) {
  auto options = std::make_shared<RewardOptions>();
  CLI::App* command = app.add_subcommand("reward", "Score JSONL responses with a task's verifier");
  command->add_option("--task", options->task, "countdown | math | synthetic")->required();
  command->add_option("input", options->input_path, "JSONL file, or - for stdin")->capture_default_str();
  command->add_option("-o,--output", options->output_path, "output file (written atomically), or - for stdout")
      ->capture_default_str();
  command->add_option("--format-reward", options->format_reward,
                      "countdown: reward for a well-formed but wrong answer")->capture_default_str();
  command->callback([options, status] {
    *status = run_jsonl_filter(options->input_path, options->output_path,
                               [&](std::istream& input, const std::string& source, std::ostream& output) {
                                 return score_responses(*options, input, source, output);
                               });
  });
}

}  // namespace deltarl
