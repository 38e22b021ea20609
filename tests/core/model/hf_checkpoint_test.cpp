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

torch::Tensor sample_logits(CausalLM model) {
  return model->forward(torch::tensor({{5, 9, 200, 3, 17}}));
}

TEST_F(HfCheckpointTest, SaveThenLoadGivesTheSameLogits) {
  for (const char* family : {"qwen2", "qwen3", "llama"}) {
    for (const char* name : {"tied", "untied"}) {
      const std::string source = std::string(DELTARL_TEST_FIXTURES_DIR) + "/" + family + "-tiny/" + name;
      CausalLM original = load_pretrained(source);
      save_pretrained(original, folder_);
      CausalLM reloaded = load_pretrained(folder_);
      EXPECT_TRUE(torch::equal(sample_logits(original), sample_logits(reloaded))) << source;
      EXPECT_EQ(reloaded->config().tie_word_embeddings, std::string(name) == "tied");
      EXPECT_EQ(reloaded->config().to_json(), original->config().to_json()) << source;
    }
  }
}

// What each family's config.json turns into (the fixtures are transformers' own).
TEST(ModelFamilies, ConfigFieldsBecomeTheDecodersConfiguration) {
  const std::string fixtures = DELTARL_TEST_FIXTURES_DIR;
  const ModelConfig qwen2 = ModelConfig::from_file(fixtures + "/qwen2-tiny/tied/config.json");
  EXPECT_EQ(qwen2.family, ModelFamily::kQwen2);
  EXPECT_TRUE(qwen2.attention_bias);
  EXPECT_FALSE(qwen2.qk_norm);
  const ModelConfig qwen3 = ModelConfig::from_file(fixtures + "/qwen3-tiny/tied/config.json");
  EXPECT_EQ(qwen3.family, ModelFamily::kQwen3);
  EXPECT_FALSE(qwen3.attention_bias);
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_EQ(qwen3.head_dim(), 32);  // while hidden 64 / 4 heads is 16
  EXPECT_FALSE(qwen3.rope_scaling.enabled());
  const ModelConfig llama = ModelConfig::from_file(fixtures + "/llama-tiny/untied/config.json");
  EXPECT_EQ(llama.family, ModelFamily::kLlama);
  EXPECT_FALSE(llama.attention_bias);
  EXPECT_FALSE(llama.qk_norm);
  EXPECT_EQ(llama.rope_theta, 500000.0);
  EXPECT_EQ(llama.rope_scaling.factor, 8.0);
  EXPECT_EQ(llama.rope_scaling.original_max_position_embeddings, 64);
  // Qwen3 without head_dim: transformers' Qwen3Config default, 128.
  nlohmann::json no_head_dim = nlohmann::json::parse(qwen3.to_json().dump());
  no_head_dim.erase("head_dim");
  EXPECT_EQ(ModelConfig::from_json(no_head_dim, "qwen3").head_dim(), 128);
  nlohmann::json biased = nlohmann::json::parse(qwen3.to_json().dump());
  biased["attention_bias"] = true;
  EXPECT_NE(input_error_message([&] { ModelConfig::from_json(biased, "q.json"); }).find("q.json: attention_bias is true"),
            std::string::npos);
  // A hand-built config whose biases or norms are not its family's is refused (to_json writes only the family).
  ModelConfig mixed = ModelConfig::preset("tiny-qwen3");
  mixed.qk_norm = false;
  EXPECT_THROW(mixed.validate("mixed"), InputError);
  // transformers 4.x's spelling (rope_scaling beside rope_theta) reads the same.
  nlohmann::json older = nlohmann::json::parse(llama.to_json().dump());
  EXPECT_TRUE(older.contains("rope_scaling") && older["rope_scaling"]["rope_type"] == "llama3");
  EXPECT_EQ(ModelConfig::from_json(older, "older").to_json(), llama.to_json());
}

TEST_F(HfCheckpointTest, ShardedSaveWritesAnIndexAndLoadsBack) {
  CausalLM original = load_pretrained(kFixtures + "untied");
  save_pretrained(original, folder_, torch::kFloat32, /*max_shard_bytes=*/100'000);
  EXPECT_TRUE(path_exists(in_folder("model.safetensors.index.json")));
  EXPECT_FALSE(path_exists(in_folder("model.safetensors")));
  EXPECT_TRUE(path_exists(in_folder("model-00001-of-00006.safetensors")));
  CausalLM reloaded = load_pretrained(folder_);
  EXPECT_TRUE(torch::equal(sample_logits(original), sample_logits(reloaded)));
  // Saving single-file into the same folder removes the stale index.
  save_pretrained(original, folder_);
  EXPECT_FALSE(path_exists(in_folder("model.safetensors.index.json")));
  EXPECT_TRUE(torch::equal(sample_logits(original), sample_logits(load_pretrained(folder_))));
}

TEST_F(HfCheckpointTest, Bfloat16SaveRecordsTheDtype) {
  CausalLM original = load_pretrained(kFixtures + "tied");
  save_pretrained(original, folder_, torch::kBFloat16);
  SafetensorsFile file(in_folder("model.safetensors"));
  EXPECT_EQ(file.entries().at("model.norm.weight").dtype, torch::kBFloat16);
  CausalLM reloaded = load_pretrained(folder_);
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
  edit_config([](auto& c) { c["model_type"] = "mistral"; });
  const std::string family = input_error_message([&] { load_pretrained(folder_); });
  EXPECT_NE(family.find("model_type \"mistral\" is not supported; deltarl implements \"qwen2\""), std::string::npos)
      << family;
  EXPECT_NE(family.find("\"llama\""), std::string::npos) << family;
  copy_fixture("tied");
  edit_config([](auto& c) { c["model_type"] = "llama"; c["attention_bias"] = true; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("attention_bias is true"), std::string::npos);
  copy_fixture("tied");
  edit_config([](auto& c) { c["model_type"] = "qwen3"; c["num_experts"] = 8; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("mixture-of-experts"), std::string::npos);
  copy_fixture("tied");
  edit_config([](auto& c) { c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}}; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("\"linear\" is not implemented"),
            std::string::npos);
  copy_fixture("tied");
  edit_config([](auto& c) { c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}}; });
  EXPECT_NE(input_error_message([&] { load_pretrained(folder_); }).find("original_max_position_embeddings"),
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

TEST(ModelPresets, SizesOfTheReleasedModels) {
  // Parameter counts as published: Qwen2.5 (tied), Qwen3 (0.6B: 0.44B without
  // the embedding; 8B untied: 8.2B), Llama 3.2 1B (1.24B, tied), Llama 3.1 8B (8.03B).
  EXPECT_NEAR(ModelConfig::preset("qwen2.5-0.5b").parameter_count() / 1e6, 494.0, 1.0);
  EXPECT_NEAR(ModelConfig::preset("qwen2.5-1.5b").parameter_count() / 1e9, 1.54, 0.01);
  EXPECT_NEAR(ModelConfig::preset("qwen2.5-3b").parameter_count() / 1e9, 3.09, 0.01);
  const ModelConfig qwen3 = ModelConfig::preset("qwen3-0.6b");
  EXPECT_NEAR((qwen3.parameter_count() - qwen3.vocab_size * qwen3.hidden_size) / 1e9, 0.44, 0.005);
  EXPECT_NEAR(ModelConfig::preset("qwen3-8b").parameter_count() / 1e9, 8.19, 0.01);
  EXPECT_NEAR(ModelConfig::preset("llama3.2-1b").parameter_count() / 1e9, 1.24, 0.01);
  EXPECT_NEAR(ModelConfig::preset("llama3.1-8b").parameter_count() / 1e9, 8.03, 0.01);
  EXPECT_THROW(ModelConfig::preset("huge"), InputError);
  const ModelConfig tiny = ModelConfig::preset("tiny");
  EXPECT_LT(tiny.parameter_count(), 5'000'000);
  // Every preset's config.json reads back to itself.
  for (const std::string& name : ModelConfig::preset_names()) {
    const ModelConfig preset = ModelConfig::preset(name);
    const ModelConfig reread = ModelConfig::from_json(nlohmann::json::parse(preset.to_json().dump()), name);
    EXPECT_EQ(reread.to_json(), preset.to_json()) << name;
  }
}

}  // namespace
}  // namespace deltarl
