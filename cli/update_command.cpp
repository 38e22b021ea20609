#include "cli/update_command.h"

#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "cli/command_boundary.h"
#include "cli/command_mpi.h"
#include "core/input_error.h"
#include "core/jsonl_reader.h"
#include "core/log.h"
#include "trainer/comm/agreement.h"
#include "trainer/comm/learner_device.h"
#include "trainer/comm/mpi_communicator.h"
#include "trainer/comm/mpi_environment.h"
#include "trainer/run/recorded_update.h"
#include "trainer/run/training_checkpoint.h"
#include "trainer/run/training_config.h"

namespace deltarl {

namespace {

struct UpdateArguments {
  std::string model;
  std::string rollouts;
  std::string config_path;
  std::vector<std::string> overrides;
  std::string out;
  std::string resume;
  int64_t step = 1;
};

// Whether the YAML document sets section.key to something other than empty.
bool document_sets(const YAML::Node& root, const char* section, const char* key) {
  if (!root.IsMap() || !root[section] || !root[section].IsMap()) return false;
  const YAML::Node value = root[section][key];
  if (!value || value.IsNull()) return false;
  if (value.IsScalar()) return !value.Scalar().empty() && value.Scalar() != "0";
  if (value.IsSequence()) return value.size() > 0;
  return true;
}

// The training config for an update. TrainingConfig::validate() requires what
// only generation reads (data.train; rollout.workers or spawn_local): where the
// document leaves them unset they are validated with a placeholder, then unset
// again, so the checkpoint's config says what the user gave.
TrainingConfig load_update_config(const UpdateArguments& arguments) {
  std::string text, source;
  if (!arguments.config_path.empty()) {
    std::ifstream file(arguments.config_path, std::ios::binary);
    if (!file) throw InputError(arguments.config_path + ": cannot read the config file (does it exist?)");
    std::stringstream content;
    content << file.rdbuf();
    text = content.str();
    source = arguments.config_path;
  } else if (!arguments.resume.empty()) {
    const std::string checkpoint = find_checkpoint(arguments.resume);
    text = load_trainer_state(checkpoint).config_yaml;
    source = checkpoint + "/trainer_state.json (config_yaml)";
  } else {
    source = "--set";
  }
  if (arguments.model.empty() && arguments.resume.empty()) {
    throw InputError("needs --model DIR (the weights to start from) or --resume CHECKPOINT");
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception&) {
    // load_training_config_text reports it, naming the file.
  }
  const YAML::Node& document = root;
  std::vector<std::string> overrides;
  auto overridden = [&](const std::string& key) {
    for (const auto& assignment : arguments.overrides) {
      if (assignment.rfind(key + "=", 0) == 0) return true;
    }
    return false;
  };
  const bool data_placeholder = !document_sets(document, "data", "train") && !overridden("data.train");
  const bool workers_placeholder = !document_sets(document, "rollout", "workers") &&
                                   !document_sets(document, "rollout", "spawn_local") &&
                                   !overridden("rollout.workers") && !overridden("rollout.spawn_local");
  const bool model_placeholder = !arguments.model.empty();
  if (data_placeholder) overrides.push_back("data.train=unused-by-update");
  if (workers_placeholder) overrides.push_back("rollout.spawn_local=1");
  if (model_placeholder) overrides.push_back("model.path=set-by-model-option");
  overrides.insert(overrides.end(), arguments.overrides.begin(), arguments.overrides.end());
  TrainingConfig config = load_training_config_text(text, source, overrides);
  if (data_placeholder) config.data.train.clear();
  if (workers_placeholder) config.rollout.spawn_local = 0;
  if (model_placeholder) config.model.path = arguments.model;
  return config;
}

}  // namespace

void register_update_command(CLI::App& app, Status* status) {
  auto arguments = std::make_shared<UpdateArguments>();
  CLI::App* command = app.add_subcommand(
      "update", "one step's PPO updates from recorded rollouts, without generation (run under mpirun like train)");
  command->add_option("--model", arguments->model, "model folder to start from (and model.path: the KL reference)");
  command->add_option("--rollouts", arguments->rollouts, "the step's samples, JSONL (docs/training.md)")->required();
  command->add_option("--config", arguments->config_path, "YAML config (docs/configuration.md); data.train not needed");
  command->add_option("--set", arguments->overrides, "override a key: --set algorithm.ppo_epochs=2 (repeatable)");
  command->add_option("--out", arguments->out, "checkpoint folder to write (must not exist)")->required();
  command->add_option("--resume", arguments->resume, "start from this checkpoint's weights and optimizer state");
  command->add_option("--step", arguments->step, "the step whose learning rate and mini-batch shuffle to use")
      ->check(CLI::PositiveNumber);
  command->callback([arguments, status] {
    std::unique_ptr<MpiEnvironment> mpi = start_command_mpi(status);
    if (!mpi) return;
    const bool several_ranks = mpi->world_size() > 1;
    try {
      RecordedUpdateResult result;
      {  // the communicators end before MPI does
        MpiCommunicator host(MPI_COMM_WORLD);
        if (several_ranks) set_log_rank(host.rank());
        std::optional<TrainingConfig> config;
        agree_or_throw(host, "reading the config", [&] { config = load_update_config(*arguments); });
        const torch::Device device = choose_learner_device(config->train.device, mpi->local_rank(), host);
        const std::unique_ptr<Communicator> device_communicator = make_device_communicator(host, device);
        const LearnerCommunicators communicators{host, device_communicator ? *device_communicator : host,
                                                 mpi->local_size()};
        RecordedUpdateOptions options;
        options.rollouts = arguments->rollouts;
        options.resume = arguments->resume;
        options.out = arguments->out;
        options.step = arguments->step;
        result = run_recorded_update(*config, options, communicators);
        if (host.rank() == 0) {
          Json line;
          line["step"] = result.report.step;
          for (const auto& [name, value] : result.metrics) {
            line[name] = std::isfinite(value) ? Json(value) : Json(nullptr);
          }
          std::cout << line.dump() << std::endl;
          log_info("wrote " + result.checkpoint);
        }
      }
    } catch (const InputError& error) {
      // Every rank saw bad input together (run_recorded_update agrees on it).
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (...) {
      *status = escaped_exception_status("update");
      log_error(status->to_string());
      // Other ranks may be waiting in a collective: end them all.
      if (several_ranks) MpiEnvironment::abort_all(1);
    }
  });
}

}  // namespace deltarl
