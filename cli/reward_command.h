// `deltarl reward --task countdown|math|synthetic [FILE] [-o OUT] [--format-reward R]`:
// scores offline outputs with the same verifiers the rollout workers use. Reads
// JSONL lines with "response" and the task's ground truth ("numbers" and
// "target" for countdown, "answer" for math, "targets" for synthetic) and writes each line back with
// "reward" and "outcome" added. Nothing is written unless every line is valid.
#pragma once

#include <istream>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

struct RewardOptions {
  std::string task;           // "countdown", "math" or "synthetic"
  double format_reward = 0;   // countdown: reward for a wrong but well-formed answer block
  std::string input_path = "-";
  std::string output_path = "-";
};

void register_reward_command(CLI::App& app, Status* status);

Status score_responses(const RewardOptions& options, std::istream& input, const std::string& source_name,
                       std::ostream& output);

}  // namespace deltarl
