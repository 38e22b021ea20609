#include "trainer/run/training_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/file_system.h"
#include "tests/support/input_error_message.h"

namespace deltarl {
namespace {

using testing_support::input_error_message;

std::string write_temporary(const std::string& text) {
  const std::string path = join_path(make_temporary_directory("config-test"), "run.yaml");
  std::ofstream(path) << text;
  return path;
}

const char* kMinimal = "model:\n  path: m\ndata:\n  train: t.jsonl\nrollout:\n  spawn_local: 2\n";

TEST(TrainingConfig, ReadsSectionsAndDefaults) {
  const auto path = write_temporary(std::string(kMinimal) +
                                    "algorithm:\n  loss_agg_mode: token-mean\n  alpha: 0.5\n"
                                    "rollout_extra_ignored_not: 1\n");
  // Unknown top-level key: an error naming it and the file.
  EXPECT_NE(input_error_message([&] { load_training_config(path); }).find("run.yaml: unknown key \"rollout_extra"),
            std::string::npos);
  const auto good = write_temporary(std::string(kMinimal) + "algorithm:\n  loss_agg_mode: token-mean\n  alpha: 0.5\n");
  const TrainingConfig config = load_training_config(good);
  EXPECT_EQ(config.model.path, "m");
  EXPECT_EQ(config.rollout.spawn_local, 2);
  EXPECT_EQ(config.algorithm.aggregation.mode, AggregationMode::kTokenMean);
  EXPECT_EQ(config.algorithm.aggregation.alpha, 0.5);
  EXPECT_EQ(config.rollout.samples_per_prompt, 8);  // default
  EXPECT_EQ(config.max_response_length(), 256);     // M defaults to max_new_tokens
}

TEST(TrainingConfig, ErrorsNameKeyAndFile) {
  const auto typo = write_temporary(std::string(kMinimal) + "optim:\n  learning_rate: 0.1\n");
  const std::string message = input_error_message([&] { load_training_config(typo); });
  EXPECT_NE(message.find("run.yaml: unknown key \"optim.learning_rate\""), std::string::npos) << message;
  const auto wrong_type = write_temporary(std::string(kMinimal) + "train:\n  steps: 1.5\n");
  EXPECT_NE(input_error_message([&] { load_training_config(wrong_type); })
                .find("run.yaml: train.steps must be an integer, not \"1.5\""),
            std::string::npos);
  const auto not_list = write_temporary(std::string(kMinimal) + "rollout:\n  workers: a:1\n");
  EXPECT_NE(input_error_message([&] { load_training_config(not_list); }).find("rollout.workers must be a list"),
            std::string::npos);
  const auto range = write_temporary(std::string(kMinimal) + "algorithm:\n  alpha: -1\n");
  EXPECT_NE(input_error_message([&] { load_training_config(range); }).find("alpha"), std::string::npos);
  EXPECT_NE(input_error_message([&] { load_training_config("/nonexistent/run.yaml"); })
                .find("/nonexistent/run.yaml: cannot read"),
            std::string::npos);
  const auto missing = write_temporary("data:\n  train: t.jsonl\n");
  EXPECT_NE(input_error_message([&] { load_training_config(missing); }).find("model.path is required"),
            std::string::npos);
}

TEST(TrainingConfig, SetOverridesAnyKeyIncludingLists) {
  const auto path = write_temporary(kMinimal);
  const TrainingConfig config = load_training_config(
      path, {"train.steps=7", "rollout.workers=[a:1, b:2]", "algorithm.delta_l_scope=batch", "data.chat=true"});
  EXPECT_EQ(config.train.steps, 7);
  EXPECT_EQ(config.rollout.workers, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(config.algorithm.aggregation.scope, DeltaLScope::kBatch);
  EXPECT_TRUE(config.data.chat);
  EXPECT_NE(input_error_message([&] { load_training_config(path, {"train.stepz=7"}); })
                .find("--set: unknown key \"train.stepz\" (did you mean \"train.steps\"?)"),
            std::string::npos);
  EXPECT_NE(input_error_message([&] { load_training_config(path, {"train.steps"}); }).find("expected key=value"),
            std::string::npos);
}

TEST(TrainingConfig, YamlRoundTripKeepsEveryValue) {
  TrainingConfig config = training_config_from_overrides(
      {"model.path=m", "data.train=t", "rollout.workers=[h:1]", "optim.lr=3.0000000000000004e-07",
       "algorithm.advantage=dr-grpo", "algorithm.alpha=0.75", "train.seed=18446744073709551615"});
  const std::string yaml = training_config_to_yaml(config);
  const TrainingConfig again = load_training_config_text(yaml, "round-trip");
  EXPECT_EQ(training_config_to_yaml(again), yaml);
  EXPECT_EQ(again.optim.lr, config.optim.lr);
  EXPECT_EQ(again.train.seed, 18446744073709551615ull);
  EXPECT_EQ(again.algorithm.advantage, AdvantageEstimator::kDrGrpo);
}

// train.step_timeout_seconds: unset ("auto") follows rollout.deadline_seconds
// plus an hour; a number is kept as given; 0 is off; negative is refused.
TEST(TrainingConfig, StepTimeoutDefaultsToDeadlinePlusAnHour) {
  const auto path = write_temporary(kMinimal);
  const TrainingConfig defaults = load_training_config(path);
  EXPECT_FALSE(defaults.train.step_timeout_seconds.has_value());
  EXPECT_EQ(defaults.step_timeout_seconds(), 1800 + 3600);
  EXPECT_EQ(load_training_config(path, {"rollout.deadline_seconds=60"}).step_timeout_seconds(), 60 + 3600);
  EXPECT_EQ(load_training_config(path, {"train.step_timeout_seconds=5"}).step_timeout_seconds(), 5);
  EXPECT_EQ(load_training_config(path, {"train.step_timeout_seconds=0"}).step_timeout_seconds(), 0);
  EXPECT_EQ(load_training_config(path, {"train.step_timeout_seconds=5", "train.step_timeout_seconds=auto"})
                .step_timeout_seconds(),
            1800 + 3600);

  const std::string negative =
      input_error_message([&] { load_training_config(path, {"train.step_timeout_seconds=-1"}); });
  EXPECT_NE(negative.find("run.yaml: train.step_timeout_seconds must be ≥ 0 (0 turns the step watchdog off"),
            std::string::npos)
      << negative;
  const auto in_file = write_temporary(std::string(kMinimal) + "train:\n  step_timeout_seconds: -2\n");
  EXPECT_NE(input_error_message([&] { load_training_config(in_file); })
                .find("run.yaml: train.step_timeout_seconds must be ≥ 0"),
            std::string::npos);
  const auto word = write_temporary(std::string(kMinimal) + "train:\n  step_timeout_seconds: soon\n");
  EXPECT_NE(input_error_message([&] { load_training_config(word); })
                .find("run.yaml: train.step_timeout_seconds must be a number or auto, not \"soon\""),
            std::string::npos);
}

// The YAML a run folder keeps says "auto" for an unset timeout, so a resumed
// run with another deadline still follows it; a number reads back as itself.
TEST(TrainingConfig, StepTimeoutRoundTripsAsAutoOrNumber) {
  const std::vector<std::string> base = {"model.path=m", "data.train=t", "rollout.spawn_local=1"};
  const TrainingConfig unset = training_config_from_overrides(base);
  const std::string yaml = training_config_to_yaml(unset);
  EXPECT_NE(yaml.find("step_timeout_seconds: auto"), std::string::npos) << yaml;
  const TrainingConfig resumed = load_training_config_text(yaml, "config.yaml", {"rollout.deadline_seconds=100"});
  EXPECT_EQ(resumed.step_timeout_seconds(), 100 + 3600);

  std::vector<std::string> with_timeout = base;
  with_timeout.push_back("train.step_timeout_seconds=0.5");
  const std::string set_yaml = training_config_to_yaml(training_config_from_overrides(with_timeout));
  EXPECT_NE(set_yaml.find("step_timeout_seconds: 0.5"), std::string::npos) << set_yaml;
  const TrainingConfig again = load_training_config_text(set_yaml, "config.yaml");
  EXPECT_EQ(again.train.step_timeout_seconds, 0.5);
  EXPECT_EQ(training_config_to_yaml(again), set_yaml);
}

TEST(TrainingConfig, MemoryKeysAreCheckedByName) {
  auto message_for = [](const std::string& train_section) {
    const auto path = write_temporary(std::string(kMinimal) + "train:\n" + train_section);
    return input_error_message([&] { load_training_config(path); });
  };
  std::string message = message_for("  zero_stage: 3\n");
  EXPECT_NE(message.find("run.yaml: train.zero_stage must be 0, 1 or 2, not 3"), std::string::npos) << message;
  message = message_for("  zero_stage: -1\n");
  EXPECT_NE(message.find("train.zero_stage must be 0, 1 or 2"), std::string::npos) << message;
  message = message_for("  micro_batch_tokens: 200\n");  // rollout.max_new_tokens defaults to 256
  EXPECT_NE(message.find("train.micro_batch_tokens (200) must be 0"), std::string::npos) << message;
  EXPECT_NE(message.find("rollout.max_new_tokens (256)"), std::string::npos) << message;
  message = message_for("  micro_batch_tokens: -5\n");
  EXPECT_NE(message.find("train.micro_batch_tokens"), std::string::npos) << message;
  message = message_for("  logits_chunk_tokens: -1\n");
  EXPECT_NE(message.find("train.logits_chunk_tokens must be ≥ 0"), std::string::npos) << message;
  message = message_for("  attention: flash\n");
  EXPECT_NE(message.find("train.attention must be auto, masked or causal"), std::string::npos) << message;
  message = message_for("  attention: causal\n");
  if (causal_attention_supported()) {
    EXPECT_EQ(message, "");
  } else {  // a feature this LibTorch cannot provide, named with the version
    EXPECT_NE(message.find("train.attention is causal, which needs SDPA's causal path (LibTorch ≥ 2.1)"),
              std::string::npos) << message;
    EXPECT_NE(message.find("LibTorch 1."), std::string::npos) << message;
  }
  const auto good = write_temporary(std::string(kMinimal) +
                                    "train:\n  micro_batch_tokens: 4096\n  logits_chunk_tokens: 512\n"
                                    "  activation_checkpointing: true\n");
  const TrainingConfig config = load_training_config(good);
  const PolicyUpdateOptions options = policy_update_options(config);
  EXPECT_EQ(options.micro_batching.token_budget, 4096);
  EXPECT_EQ(options.logits_chunk_tokens, 512);
  EXPECT_TRUE(config.train.activation_checkpointing);
  EXPECT_EQ(training_attention(config), default_training_attention());
}

TEST(TrainingConfig, DocsListEveryKey) {
  std::ifstream docs(std::string(DELTARL_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(docs) << "docs/configuration.md is missing";
  std::stringstream text;
  text << docs.rdbuf();
  for (const auto& key : training_config_keys()) {
    EXPECT_NE(text.str().find("`" + key + "`"), std::string::npos) << key << " is not documented";
  }
}

// The example configs the cluster launchers take (they set model.path and
// rollout.workers themselves) must load.
TEST(TrainingConfig, DeployConfigsLoad) {
  const std::string folder = std::string(DELTARL_SOURCE_DIR) + "/deploy/configs";
  int loaded = 0;
  for (const auto& name : list_directory(folder)) {
    if (name.size() < 5 || name.substr(name.size() - 5) != ".yaml") continue;
    const TrainingConfig config =
        load_training_config(join_path(folder, name), {"model.path=/models/m", "rollout.workers=[node1:5000]"});
    EXPECT_FALSE(config.data.train.empty()) << name;
    ++loaded;
  }
  EXPECT_GE(loaded, 2);
}

}  // namespace
}  // namespace deltarl
