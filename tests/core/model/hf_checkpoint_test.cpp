// Hugging Face checkpoints: save → load round trips (single file and shards),
// config validation, and mismatched or missing weights as specific errors.
#include "core/model/hf_checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/file_system.h"
#include "core/input_error.h"
#include "tests/support/input_error_message.h"

namespace deltarl {
namespace {

using testing_support::input_error_message;

const std::string kFixtures = std::string(DELTARL_TEST_FIXTURES_DIR) + "/qwen2-tiny/";

class HfCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = make_temporary_directory("deltarl_ckpt_");
  }
  void TearDown() override { remove_tree(folder_); }
  std::string in_folder(const std::string& name) const { return join_path(folder_, name); }

  void copy_fixture(const std::string& name) {
    for (const auto& file : {"config.json", "model.safetensors"}) {
      copy_file(kFixtures + name + "/" + file, in_folder(file));
    }
  }
  void edit_config(const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json config = nlohmann::json::parse(std::ifstream(in_folder("config.json")));
    edit(config);
    std::ofstream(in_folder("config.json")) << config.dump();
  }

  std::string folder_;
  torch::NoGradGuard no_grad_;
};

torch::Tensor sample_logits(Qwen2ForCausalLM model) {
  return model->forward(torch::tensor({{5, 9, 200, 3, 17}}));
}

TEST_F(HfCheckpointTest, SaveThenLoadGivesTheSameLogits) {
  for (const char* name : {"tied", "untied"}) {
    Qwen2ForCausalLM original = load_pretrained(kFixtures + name);
    save_pretrained(original, folder_);
    Qwen2ForCausalLM reloaded = load_pretrained(folder_);
    EXPECT_TRUE(torch::equal(sample_logits(original), sample_logits(reloaded))) << name;
    EXPECT_EQ(reloaded->config().tie_word_embeddings, std::string(name) == "tied");
  }
}

TEST_F(HfCheckpointTest, ShardedSaveWritesAnIndexAndLoadsBack) {
  Qwen2ForCausalLM original = load_pretrained(kFixtures + "untied");
  save_pretrained(original, folder_, torch::kFloat32, /*max_shard_bytes=*/100'000);
  EXPECT_TRUE(path_exists(in_folder("model.safetensors.index.json")));
  EXPECT_FALSE(path_exists(in_folder("model.safetensors")));
  EXPECT_TRUE(path_exists(in_folder("model-00001-of-00006.safetensors")));
  Qwen2ForCausalLM reloaded = load_pretrained(folder_);
  EXPECT_TRUE(torch::equal(sample_logits(original), sample_logits(reloaded)));
  // Saving single-file into the same folder removes the stale index.
  save_pretrained(original, folder_);
  EXPECT_FALSE(path_exists(in_folder("model.safetensors.index.json")));
  EXPECT_TRUE(torch::equal(sample_logits(original), sample_logits(load_pretrained(folder_))));
}

TEST_F(HfCheckpointTest, Bfloat16SaveRecordsTheDtype) {
  Qwen2ForCausalLM original = load_pretrained(kFixtures + "tied");
  save_pretrained(original, folder_, torch::kBFloat16);
  SafetensorsFile file(in_folder("model.safetensors"));
  EXPECT_EQ(file.entries().at("model.norm.weight").dtype, torch::kBFloat16);
  Qwen2ForCausalLM reloaded = load_pretrained(folder_);
  EXPECT_EQ(reloaded->model->norm->weight.scalar_type(), torch::kBFloat16);
}

TEST_F(HfCheckpointTest, MissingConfigFieldsAndUnsupportedSettingsAreNamed) {
  copy_fixture("tied");
  edit_config([](auto& c) { c.erase("num_hidden_layers"); });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("missing field \"num_hidden_layers\""),
            std::string::npos);
  copy_fixture("tied");
  edit_config([](auto& c) { c["use_sliding_window"] = true; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("sliding-window"), std::string::npos);
  copy_fixture("tied");
  edit_config([](auto& c) { c["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("\"yarn\" is not implemented"), std::string::npos);
  copy_fixture("tied");
  edit_config([](auto& c) { c["model_type"] = "llama"; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("model_type \"llama\" is not supported"),
            std::string::npos);
  copy_fixture("tied");
  edit_config([](auto& c) { c["num_key_value_heads"] = 3; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("not a multiple of num_key_value_heads"),
            std::string::npos);
}

TEST_F(HfCheckpointTest, WeightsThatDoNotFitTheConfigAreNamed) {
  copy_fixture("tied");
  edit_config([](auto& c) { c["intermediate_size"] = 128; });
  const std::string shape = input_error_message([&] { load_pretrained(folder_); });
  EXPECT_NE(shape.find("model.safetensors: tensor \"model.layers.0.mlp.gate_proj.weight\" has shape [160, 64]"),
            std::string::npos) << shape;
  copy_fixture("tied");
  edit_config([](auto& c) { c["num_hidden_layers"] = 3; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("lacks tensor \"model.layers.2."),
            std::string::npos);
  copy_fixture("tied");
  edit_config([](auto& c) { c["num_hidden_layers"] = 1; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("unexpected tensor \"model.layers.1."),
            std::string::npos);
  remove_file(in_folder("model.safetensors"));
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("has neither model.safetensors"), std::string::npos);
  EXPECT_NE(input_error_message([&] { load_pretrained(in_folder("nope")); }).find("cannot open model config"),
            std::string::npos);
}

TEST(Qwen2Presets, SizesOfTheReleasedModels) {
  // Parameter counts of Qwen2.5 as published (tied embeddings).
  EXPECT_NEAR(Qwen2Config::preset("qwen2.5-0.5b").parameter_count() / 1e6, 494.0, 1.0);
  EXPECT_NEAR(Qwen2Config::preset("qwen2.5-1.5b").parameter_count() / 1e9, 1.54, 0.01);
  EXPECT_NEAR(Qwen2Config::preset("qwen2.5-3b").parameter_count() / 1e9, 3.09, 0.01);
  EXPECT_THROW(Qwen2Config::preset("huge"), InputError);
  const Qwen2Config tiny = Qwen2Config::preset("tiny");
  EXPECT_LT(tiny.parameter_count(), 5'000'000);
  // A preset's config.json reads back to itself.
  const Qwen2Config reread = Qwen2Config::from_json(nlohmann::json::parse(tiny.to_json().dump()), "preset");
  EXPECT_EQ(reread.to_json(), tiny.to_json());
}

}  // namespace
}  // namespace deltarl
