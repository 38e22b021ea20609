#include "core/tokenizer/chat_format.h"

#include <nlohmann/json.hpp>

#include "core/file_system.h"
#include "core/input_error.h"
#include "core/json_input.h"

namespace deltarl {

namespace {

void check_role(const ChatMessage& message) {
  if (message.role != "system" && message.role != "user" && message.role != "assistant") {
    throw InputError("chat message role \"" + message.role + "\" is not system, user or assistant");
  }
}

// Jinja's `trim`: leading and trailing whitespace off.
std::string trimmed(const std::string& text) {
  const char* space = " \t\n\r\f\v";
  const size_t first = text.find_first_not_of(space);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

}  // namespace

std::string ChatFormat::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  std::string prompt;
  if (kind == ChatTemplate::kLlama3) {
    prompt = "<|begin_of_text|>";
    for (const auto& message : messages) {
      check_role(message);
      prompt += "<|start_header_id|>" + message.role + "<|end_header_id|>\n\n" + trimmed(message.content) + "<|eot_id|>";
    }
    if (add_generation_prompt) prompt += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return prompt;
  }
  for (const auto& message : messages) {
    check_role(message);
    prompt += "<|im_start|>" + message.role + "\n" + message.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) {
    prompt += "<|im_start|>assistant\n";
    if (kind == ChatTemplate::kQwen3 && !thinking) prompt += "<think>\n\n</think>\n\n";
  }
  return prompt;
}

const char* ChatFormat::name() const {
  switch (kind) {
    case ChatTemplate::kQwen3: return "qwen3";
    case ChatTemplate::kLlama3: return "llama3";
    default: return "chatml";
  }
}

ChatFormat ChatFormat::of_family(ModelFamily family) {
  ChatFormat format;
  if (family == ModelFamily::kQwen3) format.kind = ChatTemplate::kQwen3;
  if (family == ModelFamily::kLlama) format.kind = ChatTemplate::kLlama3;
  return format;
}

std::optional<ChatFormat> ChatFormat::of_tokenizer_config(const std::string& json_text, const std::string& source) {
  const auto config = parse_json_text<nlohmann::json>(json_text, source);
  if (!config.is_object() || !config.contains("chat_template") || config["chat_template"].is_null()) {
    return std::nullopt;
  }
  const nlohmann::json& value = config["chat_template"];
  if (!value.is_string()) {
    throw InputError(source + ": chat_template is not a string (named templates are not supported)");
  }
  const std::string chat_template = value.get<std::string>();
  ChatFormat format;
  if (chat_template.find("<|start_header_id|>") != std::string::npos) {
    format.kind = ChatTemplate::kLlama3;
  } else if (chat_template.find("<|im_start|>") != std::string::npos) {
    format.kind = chat_template.find("enable_thinking") != std::string::npos ? ChatTemplate::kQwen3
                                                                              : ChatTemplate::kChatMl;
  } else {
    throw InputError(source + ": chat_template is neither ChatML (<|im_start|>) nor Llama 3's "
                     "(<|start_header_id|>); deltarl renders those two");
  }
  return format;
}

ChatFormat ChatFormat::of_model_folder(const std::string& folder) {
  const std::string tokenizer_config = join_path(folder, "tokenizer_config.json");
  if (path_exists(tokenizer_config)) {
    if (auto format = of_tokenizer_config(read_file_text(tokenizer_config), tokenizer_config)) return *format;
  }
  return of_family(ModelConfig::from_file(join_path(folder, "config.json")).family);
}

}  // namespace deltarl
