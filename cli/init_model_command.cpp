#include "cli/init_model_command.h"

#include <iostream>
#include <memory>

#include "core/file_system.h"
#include "core/input_error.h"
#include "core/model/preset_checkpoint.h"
#include "core/model/hf_checkpoint.h"
#include "core/preset_files.h"
#include "core/tokenizer/tokenizer.h"

namespace deltarl {

void register_init_model_command(CLI::App& app, Status* status) {
  struct Options {
    std::string preset = "tiny";
    std::string out;
    std::string tokenizer;
    std::string dtype = "float32";
    uint64_t seed = 0;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("init-model", "Write a randomly initialized preset model as a HF checkpoint");
  std::string presets;
  for (const std::string& name : ModelConfig::preset_names()) presets += (presets.empty() ? "" : " | ") + name;
  command->add_option("--preset", options->preset, presets)->capture_default_str();
  command->add_option("--out", options->out, "checkpoint folder to create")->required();
  command->add_option("--tokenizer", options->tokenizer,
                      "tokenizer.json to ship with it (default for tiny/small: the CountDown tokenizer)");
  command->add_option("--dtype", options->dtype, "float32 | bfloat16")->capture_default_str();
  command->add_option("--seed", options->seed, "initialization seed")->capture_default_str();
  command->callback([options, status] {
    try {
      if (options->dtype != "float32" && options->dtype != "bfloat16") {
        throw InputError("--dtype must be float32 or bfloat16, got " + options->dtype);
      }
      const ModelConfig config =
          write_preset_checkpoint(options->preset, options->tokenizer, options->out, options->seed,
                                  options->dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32);
      std::cout << "wrote " << options->out << ": " << options->preset << ", " << config.parameter_count()
                << " parameters, vocabulary " << config.vocab_size << "\n";
      *status = Status();
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (const std::runtime_error& error) {  // AtomicFileWriter: disk full, permissions
      *status = Status(StatusCode::kInvalidArgument, error.what());
    }
  });
}

}  // namespace deltarl
