#include "core/tokenizer/chat_format.h"

#include "core/input_error.h"

namespace deltarl {

std::string format_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::string prompt;
  for (const auto& message : messages) {
    if (message.role != "system" && message.role != "user" && message.role != "assistant") {
      throw InputError("chat message role \"" + message.role + "\" is not system, user or assistant");
    }
    prompt += "<|im_start|>" + message.role + "\n" + message.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) prompt += "<|im_start|>assistant\n";
  return prompt;
}

}  // namespace deltarl
