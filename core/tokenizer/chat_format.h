// The Qwen chat format (ChatML) for building prompts:
//   <|im_start|>system\n{content}<|im_end|>\n
//   <|im_start|>user\n{content}<|im_end|>\n
//   <|im_start|>assistant\n                      (the generation prompt)
// No default system message is inserted (Qwen2.5's Jinja template adds one
// when none is given; Qwen3's does not): pass one explicitly to match Qwen2.5.
#pragma once

#include <string>
#include <vector>

namespace deltarl {

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;
};

// Throws InputError for an unknown role.
std::string format_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt = true);

}  // namespace deltarl
