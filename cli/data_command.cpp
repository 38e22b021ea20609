#include "cli/data_command.h"

#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/countdown_files.h"
#include "core/atomic_file_writer.h"
#include "core/input_error.h"
#include "core/tasks/countdown_generator.h"
#include "core/tasks/synthetic_generator.h"

namespace deltarl {

void register_data_command(CLI::App& app, Status* status) {
  struct Options {
    CountdownGeneratorOptions generator;
    std::string numbers = "3..4";
    std::string out;
    std::string sft_prompt_template;
    int64_t max_failed_attempts = 3;
  };
  auto options = std::make_shared<Options>();
  CLI::App* data = app.add_subcommand("data", "Generate task datasets");
  data->require_subcommand(1);
  CLI::App* countdown = data->add_subcommand("countdown", "Synthetic CountDown problems with solutions (JSONL)");
  countdown->add_option("--count", options->generator.count, "number of problems")->capture_default_str();
  countdown->add_option("--numbers", options->numbers, "how many numbers per problem, LO..HI")->capture_default_str();
  countdown->add_option("--max-number", options->generator.max_number, "numbers are drawn from 1..K")
      ->capture_default_str();
  countdown->add_option("--max-target", options->generator.max_target, "targets in 1..T (0: 10 * max-number)")
      ->capture_default_str();
  countdown->add_option("--seed", options->generator.seed)->capture_default_str();
  countdown->add_option("--out", options->out, "output JSONL file")->required();
  countdown->add_option("--sft-prompt-template", options->sft_prompt_template,
                        "also write \"prompt\" (this template, as `deltarl train` renders it) and \"response\" "
                        "(reasoning with failed attempts, then the answer) for `deltarl sft`");
  countdown->add_option("--max-failed-attempts", options->max_failed_attempts,
                        "SFT responses try 0..K wrong equations before the solution")
      ->capture_default_str();
  countdown->callback([options, status] {
    try {
      const auto dots = options->numbers.find("..");
      try {
        if (dots == std::string::npos) throw std::invalid_argument("no ..");
        options->generator.min_numbers = std::stoll(options->numbers.substr(0, dots));
        options->generator.max_numbers = std::stoll(options->numbers.substr(dots + 2));
      } catch (const std::logic_error&) {
        throw InputError("--numbers \"" + options->numbers + "\" is not a range like 3..4");
      }
      const auto examples = generate_countdown_problems(options->generator);
      write_countdown_file(options->out, examples, options->sft_prompt_template, options->max_failed_attempts,
                           options->generator.seed);
      std::cout << "wrote " << examples.size() << " CountDown problems to " << options->out << "\n";
      *status = Status();
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (const std::runtime_error& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    }
  });

  auto synthetic_options = std::make_shared<SyntheticGeneratorOptions>();
  auto synthetic_out = std::make_shared<std::string>();
  CLI::App* synthetic =
      data->add_subcommand("synthetic", "Prompts of the synthetic test task: mixed rewards for a random model (JSONL)");
  synthetic->add_option("--count", synthetic_options->count, "number of prompts")->capture_default_str();
  synthetic->add_option("--targets", synthetic_options->targets_per_prompt,
                        "target symbols per prompt (the default suits 16 new tokens of a random tiny model)")
      ->capture_default_str();
  synthetic->add_option("--seed", synthetic_options->seed)->capture_default_str();
  synthetic->add_option("--out", *synthetic_out, "output JSONL file")->required();
  synthetic->callback([synthetic_options, synthetic_out, status] {
    try {
      const auto problems = generate_synthetic_problems(*synthetic_options);
      AtomicFileWriter writer(*synthetic_out);
      for (const auto& problem : problems) {
        writer.stream() << nlohmann::json{{"targets", problem.targets}}.dump() << '\n';
      }
      writer.commit();
      std::cout << "wrote " << problems.size() << " synthetic-task prompts to " << *synthetic_out << "\n";
      *status = Status();
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (const std::runtime_error& error) {  // AtomicFileWriter: disk full, permissions
      *status = Status(StatusCode::kInvalidArgument, error.what());
    }
  });
}

}  // namespace deltarl
