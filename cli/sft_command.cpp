#include "cli/sft_command.h"

#include <cstdio>
#include <iostream>
#include <memory>

#include "core/input_error.h"
#include "trainer/sft/supervised_finetuning.h"

namespace deltarl {

void register_sft_command(CLI::App& app, Status* status) {
  auto options = std::make_shared<SftOptions>();
  auto log_every = std::make_shared<int64_t>(10);
  CLI::App* command = app.add_subcommand("sft", "Supervised fine-tuning on prompt/response JSONL");
  command->add_option("--model", options->model_folder, "HF folder to start from (with tokenizer.json)")->required();
  command->add_option("--data", options->data_path, "JSONL lines {\"prompt\": ..., \"response\": ...}")->required();
  command->add_option("--out", options->out_folder, "new folder for the fine-tuned model")->required();
  command->add_option("--epochs", options->epochs)->capture_default_str();
  command->add_option("--batch-size", options->batch_size, "sequences per step")->capture_default_str();
  command->add_option("--lr", options->lr, "peak learning rate")->capture_default_str();
  command->add_option("--warmup-ratio", options->warmup_ratio)->capture_default_str();
  command->add_option("--min-lr-ratio", options->min_lr_ratio, "cosine decay floor")->capture_default_str();
  command->add_option("--weight-decay", options->weight_decay)->capture_default_str();
  command->add_option("--grad-clip", options->grad_clip)->capture_default_str();
  command->add_option("--seed", options->seed)->capture_default_str();
  command->add_option("--threads", options->threads, "LibTorch threads (0: every CPU this process may use)")->capture_default_str();
  command->add_option("--log-every", *log_every, "steps between progress lines")->capture_default_str();
  command->callback([options, log_every, status] {
    try {
      const SftResult result = run_supervised_finetuning(*options, [&](const SftProgress& progress) {
        if (progress.step % std::max<int64_t>(1, *log_every) != 0 && progress.step != progress.total_steps) return;
        char line[200];
        std::snprintf(line, sizeof(line), "sft step %lld/%lld | loss %.4f | %.0f tok/s | %.0fs",
                      static_cast<long long>(progress.step), static_cast<long long>(progress.total_steps),
                      progress.loss, progress.tokens_per_second, progress.seconds);
        std::cout << line << std::endl;
      });
      std::cout << "wrote " << options->out_folder << " (" << result.steps << " steps, final loss " << result.final_loss
                << ", " << static_cast<int64_t>(result.seconds) << " s)" << std::endl;
      *status = Status();
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (const std::runtime_error& error) {
      *status = Status(StatusCode::kInternal, error.what());
    }
  });
}

}  // namespace deltarl
