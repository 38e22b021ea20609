// TrainingAttention::kCausal (SDPA's causal path, no mask tensor) gives the
// masked path's logits and gradients within 1e-5 relative at every valid
// position of a right-padded batch with grouped-query attention, and falls back
// to the mask for rows that are not right-padded. Where LibTorch lacks SDPA's
// causal path (Debian's 1.13) the model says so and refuses kCausal; the
// numerical tests then skip, and the cuda-compile check compiles them against
// LibTorch 2.x.
#include <gtest/gtest.h>

#include <torch/torch.h>
#include <torch/version.h>

#include <string>

#include "core/model/causal_lm.h"

namespace deltarl {
namespace {

CausalLM tiny_model() {
  torch::manual_seed(3);
  ModelConfig config = ModelConfig::preset("tiny");  // 4 heads over 2 KV heads
  config.validate("test config");
  return CausalLM(config);
}

struct Pass {
  torch::Tensor logits;                    // (b, s, vocab), detached
  std::vector<torch::Tensor> gradients;    // per parameter
};

// Forward and backward of loss = Σ c · logits over valid positions.
Pass run(CausalLM& model, TrainingAttention attention, const torch::Tensor& ids, const torch::Tensor& mask) {
  model->model->training_attention = attention;
  model->zero_grad();
  torch::manual_seed(8);
  const torch::Tensor coefficients = torch::randn({ids.size(0), ids.size(1), model->config().vocab_size});
  const torch::Tensor logits = model->forward(ids, mask);
  (coefficients * logits * mask.unsqueeze(-1).to(torch::kFloat32)).sum().backward();
  Pass pass{logits.detach(), {}};
  for (const auto& parameter : model->parameters()) pass.gradients.push_back(parameter.grad().clone());
  return pass;
}

double worst_relative_error(const std::vector<torch::Tensor>& actual, const std::vector<torch::Tensor>& expected) {
  double worst = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, (actual[i] - expected[i]).abs().max().item<double>() /
                                std::max(expected[i].abs().max().item<double>(), 1e-30));
  }
  return worst;
}

TEST(CausalAttention, MatchesTheMaskedPathAtEveryValidPosition) {
  if (!causal_attention_supported()) GTEST_SKIP() << "LibTorch " << TORCH_VERSION << " has no SDPA causal path";
  CausalLM model = tiny_model();
  const torch::Tensor ids = torch::randint(0, model->config().vocab_size, {3, 11}, torch::kInt64);
  const torch::Tensor lengths = torch::tensor({11, 4, 8}, torch::kInt64);
  const torch::Tensor mask = (torch::arange(11).unsqueeze(0) < lengths.unsqueeze(1)).to(torch::kInt64);
  const Pass masked = run(model, TrainingAttention::kMasked, ids, mask);
  const Pass causal = run(model, TrainingAttention::kCausal, ids, mask);
  const torch::Tensor valid = mask.to(torch::kBool).unsqueeze(-1);
  const torch::Tensor logit_error = ((causal.logits - masked.logits).abs() * valid).max();
  EXPECT_LE(logit_error.item<double>() / masked.logits.abs().max().item<double>(), 1e-5);
  EXPECT_LE(worst_relative_error(causal.gradients, masked.gradients), 1e-5);
}

TEST(CausalAttention, RowsThatAreNotRightPaddedUseTheMask) {
  if (!causal_attention_supported()) GTEST_SKIP() << "LibTorch " << TORCH_VERSION << " has no SDPA causal path";
  CausalLM model = tiny_model();
  const torch::Tensor ids = torch::randint(0, model->config().vocab_size, {2, 6}, torch::kInt64);
  const torch::Tensor left_padded = torch::tensor({{0, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}}, torch::kInt64);
  const Pass masked = run(model, TrainingAttention::kMasked, ids, left_padded);
  const Pass causal = run(model, TrainingAttention::kCausal, ids, left_padded);
  EXPECT_TRUE(torch::equal(causal.logits, masked.logits));  // the same path, so the same bits
}

TEST(CausalAttention, TheDefaultIsWhatThisLibTorchSupports) {
  CausalLM model = tiny_model();
  EXPECT_EQ(model->model->training_attention, default_training_attention());
  EXPECT_EQ(default_training_attention() == TrainingAttention::kCausal, causal_attention_supported());
  if (causal_attention_supported()) return;
  model->model->training_attention = TrainingAttention::kCausal;
  const torch::Tensor ids = torch::zeros({1, 4}, torch::kInt64);
  try {
    model->forward(ids);
    FAIL() << "kCausal ran on a LibTorch without SDPA's causal path";
  } catch (const c10::Error& error) {
    EXPECT_NE(std::string(error.what()).find("needs LibTorch ≥ 2.1"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace deltarl
