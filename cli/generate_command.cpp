#include "cli/generate_command.h"

#include <iostream>
#include <memory>

#include "core/file_system.h"
#include "core/input_error.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/text_generator.h"
#include "core/tokenizer/chat_format.h"
#include "core/tokenizer/response_text.h"
#include "core/tokenizer/tokenizer.h"

namespace deltarl {

namespace {

struct GenerateOptions {
  std::string model_folder;
  std::string prompt;
  bool chat = false;
  bool no_thinking = false;
  bool show_log_probs = false;
  uint64_t seed = 0;
  GenerationOptions generation;
};

void run(const GenerateOptions& options) {
  const std::string tokenizer_path = join_path(options.model_folder, "tokenizer.json");
  const Tokenizer tokenizer = Tokenizer::from_file(tokenizer_path);
  CausalLM model = load_pretrained(options.model_folder);
  model->eval();
  // The learner's form, so --show-log-probs prints what the trainer would compute (Note [Inference form numerics]).
  model->prepare_inference(LinearForm::kFused);
  std::string text = options.prompt;
  if (options.chat) {
    ChatFormat chat_format = ChatFormat::of_model_folder(options.model_folder);
    chat_format.thinking = !options.no_thinking;
    text = chat_format.render({{"user", options.prompt}});
  }
  std::vector<int64_t> prompt;
  for (int32_t id : tokenizer.encode(text)) prompt.push_back(id);
  GenerationOptions generation = options.generation;
  for (int64_t id : model->config().eos_token_ids) generation.stop_token_ids.push_back(id);
  for (const char* stop : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>"}) {
    if (auto id = tokenizer.token_to_id(stop)) generation.stop_token_ids.push_back(*id);
  }
  const GeneratedSequence result = generate(model, {prompt}, {options.seed}, generation)[0];
  std::cout << response_text(tokenizer, result.tokens, model->config().vocab_size) << "\n";
  if (options.show_log_probs) {
    double total = 0;
    for (float lp : result.log_probs) total += lp;
    std::cerr << "tokens " << result.tokens.size() << ", finish " << result.finish_reason << ", sum logprob " << total
              << "\n";
  }
}

}  // namespace

void register_generate_command(CLI::App& app, Status* status) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* command = app.add_subcommand("generate", "Generate text with a Hugging Face checkpoint folder (Qwen2, Qwen3, Llama 3)");
  command->add_option("--model", options->model_folder, "folder with config.json, model.safetensors, tokenizer.json")
      ->required();
  command->add_option("--prompt", options->prompt, "the prompt text")->required();
  command->add_flag("--chat", options->chat,
                    "wrap the prompt as a user turn in the model's chat format (tokenizer_config.json's "
                    "chat_template, else config.json's model_type: ChatML, Qwen3 or Llama 3)");
  command->add_flag("--no-thinking", options->no_thinking,
                    "with --chat and Qwen3's format: end the prompt with an empty <think></think> block");
  command->add_option("--temperature", options->generation.sampling.temperature, "0 is greedy")->capture_default_str();
  command->add_option("--top-p", options->generation.sampling.top_p, "nucleus sampling mass")->capture_default_str();
  command->add_option("--max-new-tokens", options->generation.max_new_tokens)->capture_default_str();
  command->add_option("--seed", options->seed, "same seed and weights give the same output")->capture_default_str();
  command->add_flag("--log-probs", options->show_log_probs, "print token count and summed log-probability to stderr");
  command->callback([options, status] {
    try {
      run(*options);
      *status = Status();
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    }
  });
}

}  // namespace deltarl
