// PromptDataset: a training set of prompts, each with the verifier's ground
// truth, read from JSONL and rendered through a prompt template, tokenized once.
//
//   countdown lines: {"numbers": [3, 5, 7], "target": 22, ...}
//   math lines:      {"question": "...", "answer": "42", ...}   ("prompt" also accepted)
//   synthetic lines: {"targets": ["3", "K", ...]}   (a test task, core/tasks/synthetic_verifier.h)
//
// Templates are a preset name or a text with {placeholders}: {numbers} ("3, 5, 7"),
// {target}, {question}, {targets} ("3 K"). An empty template means the task's
// own preset (default_prompt_template()). Presets (prompt_template_text() prints them):
//   countdown          TinyZero's instruction, ending in "<think>"
//   countdown-compact  "numbers 3 5 7 target 22\n"-style, for tiny models
//   math               the question + "put your final answer within \boxed{}"
//   raw                the line's "prompt" field as it is
//   synthetic          "Write one of these symbols: 3 K\n"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tokenizer/chat_format.h"
#include "core/tokenizer/tokenizer.h"

namespace deltarl {

struct PromptRecord {
  std::vector<int32_t> token_ids;
  std::string task;               // "countdown", "math" or "synthetic", as the worker's verifier expects
  std::string task_payload_json;  // {"numbers":..,"target":..}, {"answer":..} or {"targets":..}
};

struct PromptDatasetOptions {
  std::string task = "countdown";
  std::string prompt_template;    // "": the task's own preset (default_prompt_template)
  bool chat = false;              // wrap as a user turn in chat_format, generation prompt added
  ChatFormat chat_format;         // the model's (ChatFormat::of_family / of_model_folder)
  // Prepended to every prompt that does not already start with it: Llama's
  // <|begin_of_text|>, which its tokenizer's post-processor adds in
  // transformers (the trainer and `deltarl eval` set it for Llama; Qwen has none).
  std::optional<int64_t> bos_token_id;
  int64_t max_prompt_tokens = 0;  // 0: no limit; longer prompts are an InputError naming the line
  double format_reward = 0;       // countdown: sent to the verifier with each prompt
};

class PromptDataset {
 public:
  // Throws InputError naming "<file>:<line>" and the field for malformed lines,
  // and the file when it is missing or has no prompts.
  PromptDataset(const std::string& path, const Tokenizer& tokenizer, const PromptDatasetOptions& options);
  size_t size() const { return records_.size(); }
  const PromptRecord& operator[](size_t index) const { return records_[index]; }

  // Renders one JSONL object through the template ("" for the task's own);
  // `where` names it in messages.
  static std::string render(const std::string& prompt_template, const std::string& task,
                            const std::string& line_json, const std::string& where);

 private:
  std::vector<PromptRecord> records_;
};

// The text of a preset, or `name_or_text` itself when it is not a preset name.
std::string prompt_template_text(const std::string& name_or_text);

// The preset a task uses when data.prompt_template is unset: its own name
// ("countdown", "math", "synthetic"). InputError for an unknown task.
std::string default_prompt_template(const std::string& task);

}  // namespace deltarl
