#include "trainer/preflight/memory_plan.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/file_system.h"
#include "tests/support/input_error_message.h"

namespace deltarl {
namespace {

using testing_support::input_error_message;

TrainingConfig config_with(std::vector<std::string> overrides) {
  overrides.insert(overrides.begin(), {"model.path=qwen2.5-7b", "data.train=unused.jsonl", "rollout.spawn_local=1"});
  return training_config_from_overrides(overrides);
}

MemoryPlanOptions limit(int64_t bytes, int64_t ranks = 8) {
  MemoryPlanOptions options;
  options.ranks = ranks;
  options.limit_bytes = bytes;
  options.cuda = true;
  options.prompt_tokens = 512;
  return options;
}

constexpr int64_t k80GB = 80'000'000'000;

TEST(MemoryPlanTest, PresetsMatchThePublishedParameterCounts) {
  EXPECT_EQ(ModelConfig::preset("qwen2.5-7b").parameter_count(), 7'615'616'512);  // "7.61B"
  EXPECT_EQ(ModelConfig::preset("qwen2.5-3b").parameter_count(), 3'085'938'688);  // "3.09B"
  EXPECT_FALSE(ModelConfig::preset("qwen2.5-7b").tie_word_embeddings);
  EXPECT_TRUE(ModelConfig::preset("qwen2.5-3b").tie_word_embeddings);
}

TEST(MemoryPlanTest, StateIsSixteenBytesPerParameterAndZeroShardsTheOptimizer) {
  const ModelConfig model = ModelConfig::preset("qwen2.5-3b");
  const int64_t P = model.parameter_count();
  const MemoryPlan fp32 = plan_memory(model, config_with({}), limit(k80GB));
  EXPECT_EQ(fp32.components.weights, 4 * P);
  EXPECT_EQ(fp32.components.gradients, 4 * P);
  EXPECT_EQ(fp32.components.optimizer_state, 8 * P);
  EXPECT_EQ(fp32.components.reference_model, 0);
  const MemoryPlan bf16 = plan_memory(model, config_with({"model.dtype=bfloat16", "algorithm.kl_coef=0.001"}),
                                      limit(k80GB));
  EXPECT_EQ(bf16.components.weights, 2 * P);
  EXPECT_EQ(bf16.components.gradients, 4 * P);  // the flat fp32 buffer whatever the dtype
  EXPECT_EQ(bf16.components.optimizer_state, 12 * P);  // moments + fp32 master
  EXPECT_EQ(bf16.components.reference_model, 2 * P);
  const MemoryPlan zero1 = plan_memory(model, config_with({"model.dtype=bfloat16", "train.zero_stage=1"}),
                                       limit(k80GB, 4));
  EXPECT_EQ(zero1.components.optimizer_state, 3 * P);
}

TEST(MemoryPlanTest, MemoryFeaturesLowerTheirOwnComponents) {
  const ModelConfig model = ModelConfig::preset("qwen2.5-3b");
  // train.attention is set after validation, which refuses causal on a LibTorch without SDPA.
  auto with = [&](const std::string& setting, const std::string& attention = "masked") {
    TrainingConfig config = config_with({"rollout.max_new_tokens=2048", "train.micro_batch_size=2", setting});
    config.train.attention = attention;
    return plan_memory(model, config, limit(k80GB));
  };
  const MemoryPlan plain = with("train.seed=1");
  const MemoryPlan checkpointed = with("train.activation_checkpointing=true");
  EXPECT_LT(checkpointed.components.activations * 10, plain.components.activations);
  EXPECT_EQ(checkpointed.components.logits, plain.components.logits);
  const MemoryPlan chunked = with("train.logits_chunk_tokens=1024");
  EXPECT_EQ(chunked.components.logits, 4 * 1024 * model.vocab_size * 4);
  EXPECT_EQ(chunked.components.activations, plain.components.activations);
  // Causal SDPA drops the s² terms: b·s²·(4·H + g) for fp32, per layer, L + 1 layers.
  const MemoryPlan causal = with("train.seed=1", "causal");
  const int64_t b = 2, s = 512 + 2048, H = 16, g = 8;
  EXPECT_EQ(plain.components.activations - causal.components.activations,
            (model.num_hidden_layers + 1) * (b * s * s * (4 * H + g) - b * s * 4 * H));
  // A token budget of b·s runs the same micro-batch as micro_batch_size b.
  const MemoryPlan budget = with("train.micro_batch_tokens=" + std::to_string(b * s));
  EXPECT_EQ(budget.micro_batch_rows, b);
  EXPECT_EQ(budget.per_rank_peak_bytes, plain.per_rank_peak_bytes);
}

// Qwen3's queries are H·head_dim wide (2048 for 0.6B, twice its hidden size),
// and its per-head q/k norms keep what an RMSNorm keeps: the activations grow
// by exactly those terms over the same model with hidden / heads per head.
TEST(MemoryPlanTest, Qwen3CountsItsWideQueriesAndTheirNorms) {
  const ModelConfig qwen3 = ModelConfig::preset("qwen3-0.6b");
  ModelConfig narrow = qwen3;
  narrow.head_size = qwen3.hidden_size / qwen3.num_attention_heads;  // 64
  TrainingConfig config = config_with({"rollout.max_new_tokens=2048", "train.micro_batch_size=2"});
  config.train.attention = "masked";
  const MemoryPlan wide = plan_memory(qwen3, config, limit(k80GB));
  const MemoryPlan plain = plan_memory(narrow, config, limit(k80GB));
  const int64_t n = 2 * (512 + 2048), e = 4, H = 16, KV = 8;
  const int64_t dq = H * (128 - 64), dkv = KV * (128 - 64);
  const int64_t per_layer = n * (2 * dq * e + 2 * dkv * e + (dq + dkv) * (4 + 2 * e));
  EXPECT_EQ(wide.components.activations - plain.components.activations, (qwen3.num_hidden_layers + 1) * per_layer);
}

TEST(MemoryPlanTest, ATooLargeRunSaysItDoesNotFitAndWhatToChange) {
  const MemoryPlan plan = plan_memory(ModelConfig::preset("qwen2.5-7b"),
                                      config_with({"rollout.max_new_tokens=8192", "train.micro_batch_size=4"}),
                                      limit(k80GB));
  EXPECT_FALSE(plan.fits());
  ASSERT_FALSE(plan.suggestions.empty());
  std::string all;
  for (const auto& suggestion : plan.suggestions) all += suggestion + "\n";
  EXPECT_NE(all.find("train.activation_checkpointing=true"), std::string::npos) << all;
  EXPECT_NE(all.find("train.logits_chunk_tokens=1024"), std::string::npos) << all;
  EXPECT_NE(all.find("train.zero_stage=1"), std::string::npos) << all;

  const nlohmann::ordered_json json = memory_plan_json(plan);
  ASSERT_TRUE(json["per_rank_peak_bytes"].is_number_integer());
  EXPECT_EQ(json["per_rank_peak_bytes"].get<int64_t>(), plan.per_rank_peak_bytes);
  ASSERT_TRUE(json["fits"].is_boolean());
  EXPECT_FALSE(json["fits"].get<bool>());
  for (const char* part : {"weights", "gradients", "optimizer_state", "activations", "logits", "reference_model"}) {
    EXPECT_TRUE(json["components"][part].is_number_integer()) << part;
  }
  EXPECT_FALSE(json["suggestions"].empty());
}

// With fp32 gradient accumulation and each bf16 gradient folded as backward
// produces it, the 7B at 8k responses fits 80 GB at 8 ranks with ZeRO-1; a KL
// reference model (another 15 GB of bf16 weights) does not, and the plan says
// what would (docs/memory.md).
TEST(MemoryPlanTest, TheRecommendedSevenBSettingsFit) {
  const std::vector<std::string> recommended = {
      "rollout.max_new_tokens=8192", "model.dtype=bfloat16", "train.micro_batch_tokens=16384",
      "train.logits_chunk_tokens=1024", "train.activation_checkpointing=true", "train.zero_stage=1"};
  const MemoryPlan eight = plan_memory(ModelConfig::preset("qwen2.5-7b"), config_with(recommended), limit(k80GB, 8));
  EXPECT_TRUE(eight.fits()) << describe_memory_plan(eight);
  EXPECT_TRUE(eight.suggestions.empty());
  std::vector<std::string> with_reference = recommended;
  with_reference.push_back("algorithm.kl_coef=0.05");
  const MemoryPlan reference =
      plan_memory(ModelConfig::preset("qwen2.5-7b"), config_with(with_reference), limit(k80GB, 8));
  EXPECT_FALSE(reference.fits()) << describe_memory_plan(reference);
  EXPECT_FALSE(reference.suggestions.empty());
}

TEST(MemoryPlanTest, BadInputIsNamed) {
  const std::string folder = make_temporary_directory("memory-plan-test");
  EXPECT_NE(input_error_message([&] { plan_model_config(folder); }).find(join_path(folder, "config.json")),
            std::string::npos);
  std::ofstream(join_path(folder, "config.json")) << "{\"model_type\": \"qwen2\", \"hidden_size\": 64}";
  EXPECT_NE(input_error_message([&] { plan_model_config(folder); }).find(join_path(folder, "config.json")),
            std::string::npos);
  EXPECT_NE(input_error_message([&] { plan_model_config("qwen9-huge"); }).find("neither a folder"), std::string::npos);
  EXPECT_EQ(plan_model_config("qwen2.5-7b").hidden_size, 3584);
  EXPECT_EQ(parse_memory_size("80GiB", "--gpu-memory"), int64_t{80} << 30);
  EXPECT_EQ(parse_memory_size("80GB", "--gpu-memory"), k80GB);
  EXPECT_EQ(parse_memory_size("512MiB", "--gpu-memory"), int64_t{512} << 20);
  EXPECT_NE(input_error_message([] { parse_memory_size("lots", "--gpu-memory"); }).find("--gpu-memory \"lots\""),
            std::string::npos);
  MemoryPlanOptions gpu_without_limit;
  gpu_without_limit.cuda = true;
  EXPECT_NE(input_error_message([&] { plan_memory(ModelConfig::preset("tiny"), config_with({}), gpu_without_limit); })
                .find("--gpu-memory"),
            std::string::npos);
  const auto budget = config_with({"rollout.max_new_tokens=1024", "train.micro_batch_tokens=1100"});
  EXPECT_NE(input_error_message([&] { plan_memory(ModelConfig::preset("tiny"), budget, limit(k80GB)); })
                .find("train.micro_batch_tokens 1100 is smaller than the longest sample, 1536 tokens"),
            std::string::npos);
}

}  // namespace
}  // namespace deltarl
