// Chat formats for building prompts, one per model family, as their Hugging
// Face chat templates render a conversation:
//
//   ChatML (Qwen2, Qwen2.5)   <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
//   Qwen3                     ChatML; with thinking off, the generation prompt is followed by
//                             an empty reasoning block "<think>\n\n</think>\n\n" (Qwen3's
//                             enable_thinking=False); on (the template's default), nothing
//   Llama 3                   <|begin_of_text|> then per message
//                             <|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>
//                             ... <|start_header_id|>assistant<|end_header_id|>\n\n
//
// No default system message is inserted (Qwen2.5's template adds one when none
// is given, Llama 3.1's and 3.2's a "Cutting Knowledge Date / Today Date"
// block whose date changes the prompt every day): pass one explicitly to match
// them. It renders prompts: earlier assistant turns as their content, as
// Qwen3's template renders turns before the last user message (it strips
// their reasoning; give them without it), and no reasoning handling of a final
// assistant turn.
//
//   ChatFormat format = ChatFormat::of_model_folder("Qwen3-0.6B/");
//   std::string prompt = format.render({{"user", "2+2?"}});
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/model/model_config.h"

namespace deltarl {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatTemplate { kChatMl, kQwen3, kLlama3 };

struct ChatFormat {
  ChatTemplate kind = ChatTemplate::kChatMl;
  bool thinking = true;  // Qwen3 only: false appends the empty reasoning block to the generation prompt

  // Throws InputError for an unknown role.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt = true) const;
  const char* name() const;  // "chatml", "qwen3", "llama3"

  // The format of a model family: qwen2 ChatML, qwen3 Qwen3, llama Llama 3.
  static ChatFormat of_family(ModelFamily family);
  // The format the `chat_template` of a tokenizer_config.json's text renders,
  // recognized by its markers (<|start_header_id|>: Llama 3; <|im_start|> with
  // enable_thinking: Qwen3; <|im_start|>: ChatML); nullopt without a template.
  // InputError naming `source` for a template of another kind.
  static std::optional<ChatFormat> of_tokenizer_config(const std::string& json_text, const std::string& source);
  // tokenizer_config.json's template when the folder has one, else config.json's family.
  static ChatFormat of_model_folder(const std::string& folder);
};

}  // namespace deltarl
