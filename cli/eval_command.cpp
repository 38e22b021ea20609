#include "cli/eval_command.h"

#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/atomic_file_writer.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/model/hf_checkpoint.h"
#include "core/tokenizer/chat_format.h"
#include "trainer/evaluation/task_evaluation.h"

namespace deltarl {

void register_eval_command(CLI::App& app, Status* status) {
  struct Options {
    std::string model, data, json;
    EvaluationOptions evaluation;
    int64_t threads = 0;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("eval", "Held-out accuracy of a model on a task");
  command->add_option("--model", options->model, "HF folder with tokenizer.json")->required();
  command->add_option("--data", options->data, "JSONL of the task (as for deltarl train)")->required();
  command->add_option("--task", options->evaluation.prompts.task, "countdown | math | synthetic")->capture_default_str();
  command->add_option("--prompt-template", options->evaluation.prompts.prompt_template,
                      "as data.prompt_template (default: the task's own)")
      ->capture_default_str();
  command->add_flag("--chat", options->evaluation.prompts.chat,
                    "wrap prompts as a user turn in the model's chat format (tokenizer_config.json's "
                    "chat_template, else config.json's model_type)");
  command->add_option("--samples", options->evaluation.samples_per_prompt, "samples per prompt")->capture_default_str();
  command->add_option("--temperature", options->evaluation.temperature, "0: greedy")->capture_default_str();
  command->add_option("--top-p", options->evaluation.top_p)->capture_default_str();
  command->add_option("--max-new-tokens", options->evaluation.max_new_tokens)->capture_default_str();
  command->add_option("--batch-size", options->evaluation.batch_size)->capture_default_str();
  command->add_option("--limit", options->evaluation.limit, "first N prompts (0: all)")->capture_default_str();
  command->add_option("--seed", options->evaluation.seed)->capture_default_str();
  command->add_option("--threads", options->threads, "LibTorch threads (0: default)")->capture_default_str();
  command->add_option("--json", options->json, "also write the results here (atomically)");
  command->callback([options, status] {
    try {
      if (options->evaluation.samples_per_prompt < 1) throw InputError("--samples must be ≥ 1");
      if (options->evaluation.batch_size < 1) throw InputError("--batch-size must be ≥ 1");
      if (options->threads > 0) torch::set_num_threads(static_cast<int>(options->threads));
      CausalLM model = load_pretrained(options->model);
      const Tokenizer tokenizer = Tokenizer::from_file(join_path(options->model, "tokenizer.json"));
      if (options->evaluation.prompts.chat) {
        options->evaluation.prompts.chat_format = ChatFormat::of_model_folder(options->model);
      }
      if (model->config().family == ModelFamily::kLlama) {
        options->evaluation.prompts.bos_token_id = model->config().bos_token_id;
      }
      options->evaluation.prompts.max_prompt_tokens =
          model->config().max_position_embeddings - options->evaluation.max_new_tokens;
      const EvaluationResult r = evaluate_task(model, tokenizer, options->data, options->evaluation);
      char line[300];
      std::snprintf(line, sizeof(line),
                    "%s on %s: accuracy %.4f (%lld prompts x %lld samples, T=%g) | pass@%lld %.4f | reward %.4f | "
                    "length %.1f | truncated %.3f",
                    options->model.c_str(), options->data.c_str(), r.accuracy, static_cast<long long>(r.prompts),
                    static_cast<long long>(options->evaluation.samples_per_prompt), options->evaluation.temperature,
                    static_cast<long long>(options->evaluation.samples_per_prompt), r.pass_at_n, r.mean_reward,
                    r.mean_length, r.truncated_fraction);
      std::cout << line << std::endl;
      if (!options->json.empty()) {
        nlohmann::ordered_json json = {{"model", options->model},       {"data", options->data},
                                       {"prompts", r.prompts},          {"samples", r.samples},
                                       {"temperature", options->evaluation.temperature},
                                       {"accuracy", r.accuracy},        {"pass_at_n", r.pass_at_n},
                                       {"mean_reward", r.mean_reward},  {"mean_length", r.mean_length},
                                       {"truncated_fraction", r.truncated_fraction}};
        AtomicFileWriter out(options->json);
        out.stream() << json.dump(2) << "\n";
        out.commit();
      }
      *status = Status();
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (const std::runtime_error& error) {
      *status = Status(StatusCode::kInternal, error.what());
    }
  });
}

}  // namespace deltarl
