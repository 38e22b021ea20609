#include "cli/plan_command.h"

#include <iostream>
#include <memory>

#include "core/atomic_file_writer.h"
#include "core/input_error.h"
#include "trainer/preflight/memory_plan.h"
#include "trainer/run/training_config.h"

namespace deltarl {

void register_plan_command(CLI::App& app, Status* status) {
  struct Options {
    std::string config_path, gpu_memory, json;
    std::vector<std::string> overrides;
    MemoryPlanOptions plan;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("plan", "A learner rank's peak memory for a config, and whether it fits");
  command->add_option("--config", options->config_path, "the job's YAML config")->required();
  command->add_option("--set", options->overrides, "override a key, as for train (repeatable)");
  command->add_option("--ranks", options->plan.ranks, "learner ranks in the job")->capture_default_str();
  command->add_option("--ranks-per-host", options->plan.ranks_per_host,
                      "ranks sharing one host's memory on CPU (default: all)");
  command->add_option("--gpu-memory", options->gpu_memory,
                      "memory of one GPU (80GiB, 80GB): plan for a GPU learner; else the CPU host's memory / ranks");
  command->add_option("--prompt-tokens", options->plan.prompt_tokens, "the longest prompt, in tokens")
      ->capture_default_str();
  command->add_option("--json", options->json, "also write the plan as one JSON object here (- : stdout only)");
  command->callback([options, status] {
    try {
      if (options->plan.ranks < 1) throw InputError("--ranks must be ≥ 1, got " + std::to_string(options->plan.ranks));
      if (options->plan.prompt_tokens < 1) throw InputError("--prompt-tokens must be ≥ 1");
      const TrainingConfig config = load_training_config(options->config_path, options->overrides);
      MemoryPlanOptions plan_options = options->plan;
      if (!options->gpu_memory.empty()) {
        plan_options.cuda = true;
        plan_options.limit_bytes = parse_memory_size(options->gpu_memory, "--gpu-memory");
      } else if (config.train.device == "cuda") {
        throw InputError(config.source + ": train.device is cuda: give the GPU's memory with --gpu-memory (80GiB)");
      }
      const ModelConfig model = plan_model_config(config.model.path);
      const MemoryPlan plan = plan_memory(model, config, plan_options);
      if (options->json == "-") {
        std::cout << memory_plan_json(plan).dump(2) << std::endl;
      } else {
        std::cout << describe_memory_plan(plan) << std::flush;
        if (!options->json.empty()) {
          AtomicFileWriter out(options->json);
          out.stream() << memory_plan_json(plan).dump(2) << "\n";
          out.commit();
        }
      }
      *status = plan.fits() ? Status() : Status(StatusCode::kFailedPrecondition, "the plan does not fit (suggestions above)");
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    }
  });
}

}  // namespace deltarl
