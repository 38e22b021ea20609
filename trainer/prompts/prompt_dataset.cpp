#include "trainer/prompts/prompt_dataset.h"

#include <fstream>
#include <map>

#include "core/input_error.h"
#include "core/json_input.h"
#include "core/jsonl_reader.h"
#include "core/tasks/synthetic_verifier.h"
#include "core/tokenizer/chat_format.h"

namespace deltarl {

namespace {

const std::map<std::string, std::string>& presets() {
  static const std::map<std::string, std::string> templates = {
      {"countdown",
       "Using the numbers [{numbers}], create an equation that equals {target}. You can use basic arithmetic "
       "operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. "
       "And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>. "
       "Let me solve this step by step.\n<think>"},
      {"countdown-compact", "numbers {numbers} target {target}\n"},
      {"math", "{question}\nPlease reason step by step, and put your final answer within \\boxed{}."},
      {"raw", "{question}"},
      {"synthetic", "Write one of these symbols: {targets}\n"},
  };
  return templates;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Validates one line for its task; returns the verifier payload and fills the placeholders.
std::string payload_for(const Json& line, const std::string& task, const std::string& where,
                        std::map<std::string, std::string>* fields, double format_reward = 0) {
  if (task == "countdown") {
    if (!line.contains("numbers") || !line["numbers"].is_array() || line["numbers"].empty()) {
      throw InputError(where + ": \"numbers\" must be a non-empty list of integers (is this a CountDown file?)");
    }
    std::string numbers;
    for (const auto& number : line["numbers"]) {
      if (!number.is_number_integer()) throw InputError(where + ": \"numbers\" must hold integers only");
      numbers += (numbers.empty() ? "" : ", ") + std::to_string(number.get<int64_t>());
    }
    if (!line.contains("target") || !line["target"].is_number_integer()) {
      throw InputError(where + ": \"target\" must be an integer");
    }
    (*fields)["{numbers}"] = numbers;
    (*fields)["{target}"] = std::to_string(line["target"].get<int64_t>());
    Json payload;
    payload["numbers"] = line["numbers"];
    payload["target"] = line["target"];
    if (format_reward > 0) payload["format_reward"] = format_reward;
    return payload.dump();
  }
  if (task == "synthetic") {
    const SyntheticProblem problem = synthetic_problem_from_json(line, where);
    std::string targets;
    for (const std::string& target : problem.targets) targets += (targets.empty() ? "" : " ") + target;
    (*fields)["{targets}"] = targets;
    Json payload;
    payload["targets"] = problem.targets;
    return payload.dump();
  }
  const char* question_key = line.contains("question") ? "question" : "prompt";
  if (!line.contains(question_key) || !line[question_key].is_string()) {
    throw InputError(where + ": needs a \"question\" (or \"prompt\") string");
  }
  if (!line.contains("answer") || !(line["answer"].is_string() || line["answer"].is_number())) {
    throw InputError(where + ": \"answer\" must be a string or a number (the ground truth)");
  }
  (*fields)["{question}"] = line[question_key].get<std::string>();
  Json payload;
  payload["answer"] = line["answer"].is_string() ? line["answer"].get<std::string>() : line["answer"].dump();
  return payload.dump();
}

void require_known_task(const std::string& task) {
  if (task != "countdown" && task != "math" && task != "synthetic") {
    throw InputError("unknown task \"" + task + "\" (countdown, math or synthetic)");
  }
}

std::string fill(const std::string& prompt_template, const std::string& task,
                 const std::map<std::string, std::string>& fields, const std::string& where) {
  std::string text = prompt_template_text(prompt_template.empty() ? default_prompt_template(task) : prompt_template);
  for (const auto& [placeholder, value] : fields) text = replace_all(text, placeholder, value);
  for (const char* placeholder : {"{numbers}", "{target}", "{question}", "{targets}"}) {
    if (text.find(placeholder) != std::string::npos) {
      throw InputError(where + ": the prompt template uses " + placeholder + ", which this task's lines do not have");
    }
  }
  return text;
}

}  // namespace

std::string prompt_template_text(const std::string& name_or_text) {
  auto found = presets().find(name_or_text);
  return found == presets().end() ? name_or_text : found->second;
}

std::string default_prompt_template(const std::string& task) {
  require_known_task(task);
  return task;
}

std::string PromptDataset::render(const std::string& prompt_template, const std::string& task,
                                  const std::string& line_json, const std::string& where) {
  std::map<std::string, std::string> fields;
  require_known_task(task);
  payload_for(parse_json_text<Json>(line_json, where), task, where, &fields);
  return fill(prompt_template, task, fields, where);
}

PromptDataset::PromptDataset(const std::string& path, const Tokenizer& tokenizer,
                             const PromptDatasetOptions& options) {
  require_known_task(options.task);
  std::ifstream input(path);
  if (!input) throw InputError(path + ": cannot read the training data (does the file exist?)");
  JsonlReader reader(input, path);
  while (auto line = reader.next()) {
    const std::string where = reader.where();
    std::map<std::string, std::string> fields;
    PromptRecord record;
    record.task = options.task;
    record.task_payload_json = payload_for(line->value, options.task, where, &fields, options.format_reward);
    std::string text = fill(options.prompt_template, options.task, fields, where);
    if (options.chat) text = options.chat_format.render({{"user", text}}, /*add_generation_prompt=*/true);
    record.token_ids = tokenizer.encode(text);
    if (options.bos_token_id && (record.token_ids.empty() || record.token_ids.front() != *options.bos_token_id)) {
      record.token_ids.insert(record.token_ids.begin(), static_cast<int32_t>(*options.bos_token_id));
    }
    if (record.token_ids.empty()) throw InputError(where + ": the rendered prompt is empty");
    if (options.max_prompt_tokens > 0 && static_cast<int64_t>(record.token_ids.size()) > options.max_prompt_tokens) {
      throw InputError(where + ": the prompt has " + std::to_string(record.token_ids.size()) +
                       " tokens, more than the " + std::to_string(options.max_prompt_tokens) +
                       " the model's context leaves after rollout.max_new_tokens");
    }
    records_.push_back(std::move(record));
  }
  if (records_.empty()) throw InputError(path + ": no prompts in the file");
}

}  // namespace deltarl
