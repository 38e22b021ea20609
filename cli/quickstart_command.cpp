#include "cli/quickstart_command.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/countdown_files.h"
#include "cli/train_command.h"
#include "core/atomic_file_writer.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/jsonl_reader.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/preset_checkpoint.h"
#include "core/tasks/countdown_generator.h"
#include "trainer/prompts/prompt_sampler.h"
#include "trainer/sft/supervised_finetuning.h"

extern char** environ;

namespace deltarl {

namespace {

struct QuickstartOptions {
  std::string out = "runs/quickstart";
  int64_t ranks = 2;
  int64_t workers = 2;
  int64_t sft_examples = 4000;
  int64_t sft_epochs = 8;
  double sft_lr = 5e-3;
  int64_t rl_prompts = 4000;
  int64_t test_prompts = 200;
  int64_t max_number = 15;
  int64_t rl_steps = 250;
  double rl_lr = 5e-4;
  uint64_t seed = 1;
  bool short_run = false;
};

using Clock = std::chrono::steady_clock;

std::string self_executable() {
  char path[4096];
  const ssize_t length = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (length <= 0) throw std::runtime_error("cannot find the deltarl executable (/proc/self/exe)");
  return std::string(path, static_cast<size_t>(length));
}

// The first directory of $PATH holding `name`, or "".
std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream folders(path != nullptr ? path : "");
  for (std::string folder; std::getline(folders, folder, ':');) {
    const std::string candidate = join_path(folder.empty() ? "." : folder, name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs a program (argv[0] searched in PATH) with the given extra environment;
// its output goes to ours. Returns its exit code (128 + signal when killed).
int run_program(const std::vector<std::string>& arguments, const std::vector<std::string>& extra_environment = {}) {
  std::vector<std::string> environment(extra_environment);
  for (char** variable = environ; *variable != nullptr; ++variable) environment.emplace_back(*variable);
  std::vector<char*> argv, envp;
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  for (const auto& variable : environment) envp.push_back(const_cast<char*>(variable.c_str()));
  envp.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()) != 0) return 127;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string problem_key(const CountdownExample& example) {
  std::vector<int64_t> numbers = example.problem.numbers;
  std::sort(numbers.begin(), numbers.end());
  std::string key;
  for (int64_t number : numbers) key += std::to_string(number) + ",";
  return key + "=" + std::to_string(example.problem.target);
}

// Held-out problems are a random tenth of all (numbers, target) pairs, chosen by
// a hash: disjoint from the SFT and RL sets yet from the same distribution (the
// few hundred problems left over after drawing the training sets would be the
// rare, atypical ones).
bool is_held_out(const CountdownExample& example, uint64_t seed) {
  return std::hash<std::string>{}(problem_key(example) + "#" + std::to_string(seed)) % 10 == 0;
}

std::vector<CountdownExample> draw_problems(int64_t count, int64_t max_number, bool held_out, uint64_t seed,
                                            uint64_t split_seed) {
  CountdownGeneratorOptions generator;
  generator.min_numbers = generator.max_numbers = 3;
  generator.max_number = max_number;
  generator.count = 4 * count + 64;
  std::vector<CountdownExample> chosen;
  for (uint64_t round = 0; static_cast<int64_t>(chosen.size()) < count && round < 64; ++round) {
    generator.seed = mix_seed(seed, round);
    for (const auto& example : generate_countdown_problems(generator)) {
      if (is_held_out(example, split_seed) == held_out && static_cast<int64_t>(chosen.size()) < count) {
        chosen.push_back(example);
      }
    }
    if (held_out) generator.count *= 4;  // a tenth of the draws qualify
  }
  return chosen;
}

void write_data(const QuickstartOptions& options, const std::string& folder) {
  const auto sft = draw_problems(options.sft_examples, options.max_number, /*held_out=*/false, options.seed, options.seed);
  const auto rl = draw_problems(options.rl_prompts, options.max_number, /*held_out=*/false, options.seed + 1, options.seed);
  // Distinct held-out problems: accuracy over them is over different problems.
  std::vector<CountdownExample> test;
  std::set<std::string> seen;
  for (const auto& example : draw_problems(options.test_prompts * 8, options.max_number, /*held_out=*/true, options.seed + 2, options.seed)) {
    if (static_cast<int64_t>(test.size()) < options.test_prompts && seen.insert(problem_key(example)).second) {
      test.push_back(example);
    }
  }
  write_countdown_file(join_path(folder, "sft.jsonl"), sft, "countdown-compact", /*max_failed_attempts=*/3,
                       options.seed);
  write_countdown_file(join_path(folder, "rl.jsonl"), rl, "", 0, options.seed);
  write_countdown_file(join_path(folder, "test.jsonl"), test, "", 0, options.seed);
  std::cout << "  " << sft.size() << " SFT examples (reasoning with 0-3 failed attempts), " << rl.size()
            << " RL prompts, " << test.size() << " distinct held-out problems (a hashed tenth of all problems, "
            << "never in training)" << std::endl;
}

std::string rl_config(const QuickstartOptions& options, const std::string& out) {
  std::ostringstream yaml;
  yaml << "# deltarl quickstart: RLVR with ΔL (alpha = 1) from the SFT model\n"
       << "model: {path: " << join_path(out, "sft-model") << "}\n"
       << "data: {train: " << join_path(out, "data/rl.jsonl") << ", task: countdown, prompt_template: countdown-compact}\n"
       << "rollout: {spawn_local: " << options.workers << ", samples_per_prompt: 8, max_new_tokens: 128, "
       << "temperature: 1.0, filter_equal_rewards: true, max_refill_rounds: 2}\n"
       << "algorithm: {loss_agg_mode: delta-l, alpha: 1.0, advantage: grpo}\n"
       << "train: {steps: " << options.rl_steps << ", prompts_per_step: 32, micro_batch_size: 32, seed: "
       << options.seed << "}\n"
       << "optim: {lr: " << options.rl_lr << ", warmup_steps: 5, weight_decay: 0.0, grad_clip: 1.0}\n"
       << "eval: {data: " << join_path(out, "data/test.jsonl") << ", every: " << std::max<int64_t>(1, options.rl_steps / 10)
       << "}\n"
       << "checkpoint: {every: " << std::max<int64_t>(1, options.rl_steps / 4) << ", keep_last: 2}\n"
       << "output: {dir: " << join_path(out, "rl") << "}\n";
  return yaml.str();
}

// The python with matplotlib for the plotting tool, or "".
std::string plotting_python() {
  std::vector<std::string> candidates;
  if (const char* chosen = std::getenv("DELTARL_PYTHON")) candidates.emplace_back(chosen);
  candidates.emplace_back("python3");
  candidates.emplace_back("/usr/bin/python3");
  for (const auto& python : candidates) {
    const std::string found = python.find('/') == std::string::npos ? find_in_path(python) : python;
    if (!found.empty() && run_program({found, "-c", "import importlib.util, sys; "
                                                    "sys.exit(importlib.util.find_spec('matplotlib') is None)"}) == 0) {
      return found;
    }
  }
  return "";
}

int64_t run_quickstart(const QuickstartOptions& options) {
  const auto started = Clock::now();
  auto elapsed = [&] {
    return std::to_string(static_cast<int64_t>(std::chrono::duration<double>(Clock::now() - started).count())) + "s";
  };
  const std::string& out = options.out;
  if (path_exists(join_path(out, "rl")) || path_exists(join_path(out, "sft-model"))) {
    throw InputError(out + " already holds a quickstart run; choose another --out (nothing is overwritten)");
  }
  make_directories(join_path(out, "data"));

  std::cout << "[1/4] data: CountDown with 3 numbers from 1.." << options.max_number << std::endl;
  write_data(options, join_path(out, "data"));

  std::cout << "[2/4] SFT warm start of a tiny Qwen2 (" << elapsed() << ")" << std::endl;
  const std::string initial = join_path(out, "initial-model");
  if (!path_exists(initial)) write_preset_checkpoint("tiny", "", initial, options.seed);
  SftOptions sft;
  sft.model_folder = initial;
  sft.data_path = join_path(out, "data/sft.jsonl");
  sft.out_folder = join_path(out, "sft-model");
  sft.epochs = options.sft_epochs;
  sft.batch_size = 32;
  sft.lr = options.sft_lr;
  sft.seed = options.seed;
  const SftResult sft_result = run_supervised_finetuning(sft, [&](const SftProgress& progress) {
    if (progress.step % 50 != 0 && progress.step != progress.total_steps) return;
    const double left = progress.seconds / progress.step * static_cast<double>(progress.total_steps - progress.step);
    char line[200];
    std::snprintf(line, sizeof(line), "  sft step %lld/%lld | loss %.4f | %.0f tok/s | %.0fs left",
                  static_cast<long long>(progress.step), static_cast<long long>(progress.total_steps), progress.loss,
                  progress.tokens_per_second, left);
    std::cout << line << std::endl;
  });
  std::cout << "  SFT done: final loss " << sft_result.final_loss << std::endl;

  std::cout << "[3/4] RLVR with ΔL (alpha = 1): " << options.ranks << " learner rank(s), " << options.workers
            << " rollout workers on 127.0.0.1 (" << elapsed() << ")" << std::endl;
  const std::string config_path = join_path(out, "rl.yaml");
  {
    AtomicFileWriter config_file(config_path);
    config_file.stream() << rl_config(options, out);
    config_file.commit();
  }
  std::vector<std::string> command;
  std::vector<std::string> environment;
  const std::string mpirun = find_in_path("mpirun");
  if (!mpirun.empty()) {
    command = {mpirun, "-np", std::to_string(options.ranks), "--oversubscribe", "--bind-to", "none"};
    if (::getuid() == 0) environment = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"};
  } else {
    std::cout << "  (no mpirun in PATH: one learner process)" << std::endl;
  }
  for (const auto& argument : {self_executable(), std::string("train"), std::string("--config"), config_path}) {
    command.push_back(argument);
  }
  const int train_exit = run_program(command, environment);
  if (train_exit != 0) {
    throw std::runtime_error("training exited with code " + std::to_string(train_exit) + " (see above; resume with: " +
                             (mpirun.empty() ? std::string() : "mpirun -np " + std::to_string(options.ranks) + " ") +
                             "deltarl train --resume " + join_path(out, "rl") + ")");
  }

  std::cout << "[4/4] results (" << elapsed() << ")" << std::endl;
  double before = -1, after = -1;
  int64_t last_step = 0;
  int64_t held_out_problems = 0;
  {
    std::ifstream test(join_path(out, "data/test.jsonl"));
    for (std::string line; std::getline(test, line);) held_out_problems += !line.empty();
  }
  {
    std::ifstream metrics(join_path(out, "rl/metrics.jsonl"));
    JsonlReader reader(metrics, join_path(out, "rl/metrics.jsonl"));
    while (auto line = reader.next()) {
      const auto& row = line->value;
      if (!row.contains("eval/accuracy") || !row["eval/accuracy"].is_number()) continue;
      const int64_t step = row["step"].get<int64_t>();
      if (step == 0) before = row["eval/accuracy"].get<double>();
      if (step >= last_step) last_step = step, after = row["eval/accuracy"].get<double>();
    }
  }
  const std::string python = plotting_python();
  std::string plots = "not drawn: no python3 with matplotlib (Debian: apt-get install python3-matplotlib), then run "
                      "python3 deploy/tools/plot_run.py " + join_path(out, "rl");
  const std::string tool = join_path(DELTARL_SOURCE_DIR, "deploy/tools/plot_run.py");
  if (!python.empty() && path_exists(tool) && run_program({python, tool, join_path(out, "rl")}) == 0) {
    plots = join_path(out, "rl/plots/");
  }
  char line[300];
  std::snprintf(line, sizeof(line),
                "held-out accuracy (greedy, %lld problems): SFT %.1f%% -> RL %.1f%% (%+.1f points) in %s",
                static_cast<long long>(held_out_problems), 100 * before, 100 * after, 100 * (after - before),
                elapsed().c_str());
  std::cout << line << "\n  run folder: " << join_path(out, "rl") << " (metrics.jsonl, tensorboard/, checkpoints/)"
            << "\n  plots: " << plots << std::endl;
  nlohmann::ordered_json summary = {
      {"heldout_accuracy_sft", before},  {"heldout_accuracy_rl", after},
      {"gain_points", 100 * (after - before)}, {"rl_steps", last_step},
      {"seconds", std::chrono::duration<double>(Clock::now() - started).count()},
      {"sft_final_loss", sft_result.final_loss}, {"learner_ranks", options.ranks},
      {"rollout_workers", options.workers}};
  AtomicFileWriter summary_file(join_path(out, "summary.json"));
  summary_file.stream() << summary.dump(2) << "\n";
  summary_file.commit();
  return 0;
}

}  // namespace

void register_quickstart_command(CLI::App& app, Status* status) {
  auto options = std::make_shared<QuickstartOptions>();
  CLI::App* command = app.add_subcommand(
      "quickstart", "The main job: CountDown data, SFT warm start, RLVR with ΔL under mpirun, held-out accuracy");
  command->add_option("--out", options->out, "run folder (must not hold a quickstart already)")->capture_default_str();
  command->add_option("--ranks", options->ranks, "learner ranks (mpirun -np)")->capture_default_str();
  command->add_option("--workers", options->workers, "rollout workers spawned on 127.0.0.1")->capture_default_str();
  command->add_option("--sft-examples", options->sft_examples)->capture_default_str();
  command->add_option("--max-number", options->max_number, "numbers are drawn from 1..K")->capture_default_str();
  command->add_option("--sft-epochs", options->sft_epochs)->capture_default_str();
  command->add_option("--rl-steps", options->rl_steps)->capture_default_str();
  command->add_option("--rl-lr", options->rl_lr)->capture_default_str();
  command->add_option("--seed", options->seed)->capture_default_str();
  command->add_flag("--short", options->short_run, "a minute-long smoke run (tests): little data, few steps");
  command->callback([options, status] {
    try {
      if (options->ranks < 1 || options->workers < 1) throw InputError("--ranks and --workers must be ≥ 1");
      if (options->rl_steps < 1 || options->sft_epochs < 1) throw InputError("--rl-steps and --sft-epochs must be ≥ 1");
      if (options->max_number < 2) throw InputError("--max-number must be ≥ 2");
      if (options->short_run) {
        options->sft_examples = 256;
        options->sft_epochs = 1;
        options->rl_prompts = 128;
        options->test_prompts = 16;
        options->rl_steps = 3;
      }
      run_quickstart(*options);
      *status = Status();
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (const std::runtime_error& error) {
      *status = Status(StatusCode::kInternal, error.what());
    }
  });
}

}  // namespace deltarl
