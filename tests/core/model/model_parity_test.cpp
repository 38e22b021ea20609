// Parity with Hugging Face transformers: tiny random models of each family
// (Qwen2, Qwen3, Llama with llama3 RoPE scaling; tied and untied) built and run
// by tests/reference/make_model_fixtures.py (Qwen2) and
// make_family_fixtures.py (the others). Logits must
// match within 1e-4 max abs (fp32) on right- and left-padded batches, with and
// without the KV cache, and greedy generation must give the same tokens, in
// each form the Linear layers take without gradients (inference_forms.h):
// fused (the learner's), packed (the rollout workers') and the training layers.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdlib>

#include "core/model/hf_checkpoint.h"
#include "core/model/token_log_probs.h"
#include "core/safetensors.h"
#include "tests/support/greedy_margin.h"

namespace deltarl {
namespace {

const std::string kFixtures = std::string(DELTARL_TEST_FIXTURES_DIR) + "/";
// Top-two logit gap every greedy token must clear: 10x the logits' parity bound.
constexpr double kGreedyMargin = 1e-3;

class ModelParityTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    // The family ("qwen2", "qwen3", "llama"), "/tied" or "/untied", then the
    // form: "/fused", "/packed" or "/training".
    const std::string param = GetParam();
    const size_t family_end = param.find('/'), tying_end = param.find('/', family_end + 1);
    const std::string form = param.substr(tying_end + 1);
    if (form == "packed" && !PackedLinear::supported()) GTEST_SKIP() << "no AVX-512F, nor AVX2 with FMA: packed products are not used here";
    // The environment's switch (causal_lm.h): prepare_inference(kPacked) prepares kFused then, which the fused cases test.
    const char* packing = std::getenv("DELTARL_PACKED_PRODUCTS");
    if (form == "packed" && packing != nullptr && std::string(packing) == "0") GTEST_SKIP() << "DELTARL_PACKED_PRODUCTS=0";
    folder_ = kFixtures + param.substr(0, family_end) + "-tiny/" + param.substr(family_end + 1, tying_end - family_end - 1);
    model_ = load_pretrained(folder_);
    model_->eval();
    form_ = form == "packed" ? LinearForm::kPacked : form == "fused" ? LinearForm::kFused : LinearForm::kTraining;
    ASSERT_EQ(model_->prepare_inference(form_), form_);
    ASSERT_EQ(model_->inference_form(), form_);
    cases_ = std::make_unique<SafetensorsFile>(folder_ + "/cases.safetensors");
  }
  torch::Tensor fixture(const std::string& name) { return cases_->tensor(name).clone(); }

  std::string folder_;
  LinearForm form_ = LinearForm::kTraining;
  CausalLM model_{nullptr};
  std::unique_ptr<SafetensorsFile> cases_;
  torch::NoGradGuard no_grad_;
};

// Max |Δ| over the positions where mask is 1.
double masked_max_difference(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  torch::Tensor keep = mask.to(torch::kBool).unsqueeze(-1).expand_as(a);
  return (a - b).abs().masked_select(keep).max().item<double>();
}

TEST_P(ModelParityTest, PackedProductsAreInUseUntilAWeightChanges) {
  if (form_ != LinearForm::kPacked) GTEST_SKIP() << "not packed";
  const ModelConfig& config = model_->config();
  // What each product reads in a decoding step: (b, 1, hidden), (b, 1, heads·d), (b, 1, intermediate).
  const torch::Tensor hidden = torch::randn({2, 1, config.hidden_size});
  const torch::Tensor attended = torch::randn({2, 1, config.num_attention_heads * config.head_dim()});
  const torch::Tensor gated = torch::randn({2, 1, config.intermediate_size});
  for (const auto& layer : *model_->model->layers) {
    const auto& decoder = *layer->as<DecoderLayer>();
    EXPECT_TRUE(decoder.self_attn->packed_qkv.applies(hidden));
    EXPECT_TRUE(decoder.self_attn->packed_o.applies(attended));
    EXPECT_TRUE(decoder.mlp->packed_gate_up.applies(hidden));
    EXPECT_TRUE(decoder.mlp->packed_down.applies(gated));
  }
  EXPECT_TRUE(model_->packed_lm_head.applies(hidden));
  auto& attention = *model_->model->layers[0]->as<DecoderLayer>()->self_attn;
  attention.k_proj->weight.add_(1.0);  // as an optimizer step would: the whole model's forms stand aside
  EXPECT_FALSE(attention.packed_qkv.applies(hidden));
  EXPECT_EQ(model_->inference_form(), LinearForm::kTraining);
  EXPECT_EQ(model_->prepare_inference(LinearForm::kPacked), LinearForm::kPacked);
  EXPECT_TRUE(attention.packed_qkv.applies(hidden));
  EXPECT_EQ(model_->inference_form(), LinearForm::kPacked);
  EXPECT_EQ(model_->prepare_inference(LinearForm::kTraining), LinearForm::kTraining);  // frees the packs
  EXPECT_FALSE(model_->packed_lm_head.applies(hidden));
  EXPECT_TRUE(model_->packed_lm_head.empty());
}

TEST_P(ModelParityTest, PackingCanBeSwitchedOff) {
  if (form_ != LinearForm::kPacked) GTEST_SKIP() << "not packed";
  const torch::Tensor hidden = torch::randn({2, 1, model_->config().hidden_size});
  ASSERT_TRUE(model_->packed_lm_head.applies(hidden));
  setenv("DELTARL_PACKED_PRODUCTS", "0", /*overwrite=*/1);
  const LinearForm prepared = model_->prepare_inference(LinearForm::kPacked);
  unsetenv("DELTARL_PACKED_PRODUCTS");
  EXPECT_EQ(prepared, LinearForm::kFused);
  EXPECT_EQ(model_->inference_form(), LinearForm::kFused);
  EXPECT_FALSE(model_->packed_lm_head.applies(hidden));
  EXPECT_TRUE(model_->model->layers[0]->as<DecoderLayer>()->mlp->packed_down.empty());
}

// RoPE's frequencies bit for bit (Llama's llama3 scaling included; fixtures
// of families after Qwen2 carry them).
TEST_P(ModelParityTest, RotaryFrequenciesAreTransformersBitForBit) {
  if (!cases_->contains("inv_freq")) GTEST_SKIP() << "the Qwen2 fixtures predate inv_freq";
  EXPECT_TRUE(torch::equal(model_->model->inv_freq, fixture("inv_freq")))
      << (model_->model->inv_freq - fixture("inv_freq")).abs().max();
}

TEST_P(ModelParityTest, RightPaddedBatchLogits) {
  const torch::Tensor mask = fixture("right_mask");
  const torch::Tensor logits = model_->forward(fixture("right_ids"), mask);
  EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
  EXPECT_LE(masked_max_difference(logits, fixture("right_logits"), mask), 1e-4);
}

TEST_P(ModelParityTest, LeftPaddedBatchLogitsWithPositions) {
  const torch::Tensor mask = fixture("left_mask");
  const torch::Tensor logits = model_->forward(fixture("left_ids"), mask, fixture("left_positions"));
  EXPECT_LE(masked_max_difference(logits, fixture("left_logits"), mask), 1e-4);
}

TEST_P(ModelParityTest, KvCacheDecodingMatchesTheFullForward) {
  // Prefill the left-padded batch's first 8 positions, then feed the rest one at a time.
  const torch::Tensor ids = fixture("left_ids"), mask = fixture("left_mask"), positions = fixture("left_positions");
  const torch::Tensor expected = fixture("left_logits");
  const int64_t seq = ids.size(1), prefill = 8;
  KvCache cache = model_->make_cache(ids.size(0), seq);
  std::vector<torch::Tensor> pieces;
  pieces.push_back(model_->forward(ids.narrow(1, 0, prefill), mask.narrow(1, 0, prefill),
                                   positions.narrow(1, 0, prefill), &cache));
  for (int64_t t = prefill; t < seq; ++t) {
    pieces.push_back(model_->forward(ids.narrow(1, t, 1), mask.narrow(1, 0, t + 1), positions.narrow(1, t, 1), &cache));
  }
  EXPECT_EQ(cache.length(), seq);
  EXPECT_LE(masked_max_difference(torch::cat(pieces, 1), expected, mask), 1e-4);
}

TEST_P(ModelParityTest, GreedyGenerationGivesTheSameTokens) {
  const torch::Tensor prompt = fixture("greedy_prompt"), expected = fixture("greedy_tokens");
  KvCache cache = model_->make_cache(1, prompt.size(1) + expected.size(1));
  torch::Tensor logits = model_->forward(prompt, {}, {}, &cache);
  std::vector<int64_t> generated;
  for (int64_t step = 0; step < expected.size(1); ++step) {
    const int64_t next = logits.select(1, logits.size(1) - 1).argmax(-1).item<int64_t>();
    generated.push_back(next);
    logits = model_->forward(torch::tensor({{next}}), {}, {}, &cache);
  }
  const std::vector<int64_t> expected_tokens(expected.data_ptr<int64_t>(), expected.data_ptr<int64_t>() + expected.numel());
  EXPECT_EQ(generated, expected_tokens);
  // transformers' tokens stand far above our logits' own error (1e-4, the
  // parity bound above), so equal tokens do not hang on a CPU's rounding.
  const std::vector<int64_t> prompt_ids(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + prompt.numel());
  EXPECT_GT(testing_support::smallest_greedy_margin(model_, prompt_ids, expected_tokens), kGreedyMargin);
}

TEST_P(ModelParityTest, TokenLogProbsAreLogSoftmaxOfTheTemperatureScaledLogits) {
  const torch::Tensor ids = fixture("right_ids");
  const torch::Tensor logits = model_->forward(ids, fixture("right_mask"));
  const torch::Tensor next = ids.narrow(1, 1, ids.size(1) - 1);
  const torch::Tensor lp = token_log_probs(logits.narrow(1, 0, ids.size(1) - 1), next, 0.7);
  const torch::Tensor manual = torch::log_softmax(logits.narrow(1, 0, ids.size(1) - 1).to(torch::kFloat64) / 0.7, -1)
                                   .gather(-1, next.unsqueeze(-1)).squeeze(-1);
  EXPECT_LE((lp.to(torch::kFloat64) - manual).abs().max().item<double>(), 1e-5);
}

TEST_P(ModelParityTest, Bfloat16WeightsStayCloseToFp32) {
  CausalLM bf16 = load_pretrained(folder_, torch::kCPU, torch::kBFloat16);
  bf16->prepare_inference(form_);  // packing does not apply to bf16: fused then
  const torch::Tensor mask = fixture("right_mask");
  const torch::Tensor logits = bf16->forward(fixture("right_ids"), mask);
  EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
  EXPECT_LE(masked_max_difference(logits, fixture("right_logits"), mask), 0.25);
}

// On a CUDA device (skipped elsewhere): the same logits in fp32, close ones in
// bf16, and the same greedy tokens through generation's KV cache.
TEST_P(ModelParityTest, CudaMatchesTransformers) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  CausalLM on_gpu = load_pretrained(folder_, torch::kCUDA);
  on_gpu->prepare_inference(form_);  // packing does not apply on the GPU: fused then
  const torch::Tensor mask = fixture("left_mask");
  const torch::Tensor logits = on_gpu->forward(fixture("left_ids").cuda(), mask.cuda(), fixture("left_positions").cuda());
  EXPECT_LE(masked_max_difference(logits.cpu(), fixture("left_logits"), mask), 1e-4);
  CausalLM bf16 = load_pretrained(folder_, torch::kCUDA, torch::kBFloat16);
  bf16->prepare_inference(form_);
  const torch::Tensor bf16_logits = bf16->forward(fixture("left_ids").cuda(), mask.cuda(), fixture("left_positions").cuda());
  EXPECT_LE(masked_max_difference(bf16_logits.cpu(), fixture("left_logits"), mask), 0.25);
  const torch::Tensor prompt = fixture("greedy_prompt"), expected = fixture("greedy_tokens");
  KvCache cache = on_gpu->make_cache(1, prompt.size(1) + expected.size(1));
  torch::Tensor step_logits = on_gpu->forward(prompt.cuda(), {}, {}, &cache);
  for (int64_t step = 0; step < expected.size(1); ++step) {
    const torch::Tensor next = step_logits.select(1, step_logits.size(1) - 1).argmax(-1, /*keepdim=*/true);
    EXPECT_EQ(next.item<int64_t>(), expected[0][step].item<int64_t>()) << "step " << step;
    step_logits = on_gpu->forward(next, {}, {}, &cache);
  }
}

std::vector<std::string> all_cases() {
  std::vector<std::string> cases;
  for (const char* family : {"qwen2", "qwen3", "llama"}) {
    for (const char* tying : {"untied", "tied"}) {
      for (const char* form : {"fused", "packed", "training"}) {
        cases.push_back(std::string(family) + "/" + tying + "/" + form);
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Families, ModelParityTest, ::testing::ValuesIn(all_cases()));

}  // namespace
}  // namespace deltarl
